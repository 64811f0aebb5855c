//! APPEND (and MULTIAPPEND): the message literal is streamed into the folder's `tmp/` as it
//! arrives, fsynced, and only then given a UID and moved into `cur/` with its flags, so a
//! 50 MB message costs no more memory than a small one and `OK` means it is on disk.

use imap::command::{AppendMessage, Flag};
use imap::response::{Code, Status, continuation, tagged};
use maildir::{Delivery, Folder, FolderIndex, MessageFlags, Sealed};
use tracing::{info, warn};

use super::selected::index_options;
use super::session::{Next, Session};

/// What the framer should do with an announced literal.
#[derive(Debug, PartialEq, Eq)]
pub enum LiteralDecision {
    /// Buffer it into the command (small literals of other commands).
    Accept,
    /// Hand it out in chunks (an APPEND message).
    Stream,
    /// Refuse it; the tagged reply is in the output.
    Reject,
}

/// An APPEND in progress.
#[derive(Debug)]
pub struct AppendState {
    tag: String,
    name: String,
    folder: Folder,
    /// The message being received, and its flags and date.
    current: Option<(Delivery, AppendMessage)>,
    /// Messages complete on disk, waiting for the end of the command.
    done: Vec<(Sealed, AppendMessage)>,
    failed: bool,
}

/// Longest literal buffered for commands other than APPEND (a LOGIN password, a SEARCH
/// string, a mailbox name).
const MAX_BUFFERED_LITERAL: u64 = 64 * 1024;

impl Session {
    /// Decides about a literal the client announced; writes `+` or the refusal.
    pub fn literal_announced(&mut self, prefix: &[u8], size: u64, sync: bool) -> LiteralDecision {
        if self.append.is_some() {
            return match imap::command::parse_append_next(prefix) {
                Ok(Some(message)) => self.next_message(message, sync),
                Ok(None) | Err(_) => {
                    let tag = self.abort_append();
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::Bad,
                        None,
                        "Invalid APPEND continuation.",
                    );
                    LiteralDecision::Reject
                }
            };
        }
        match imap::command::parse_append_head(prefix) {
            Ok(Some(head)) => {
                if self.account.is_none() {
                    tagged(
                        self.out.bytes(),
                        &head.tag,
                        Status::Bad,
                        None,
                        "Log in first.",
                    );
                    return LiteralDecision::Reject;
                }
                let Some((name, folder)) = self.resolve(&head.tag, &head.mailbox) else {
                    return LiteralDecision::Reject;
                };
                if !folder.exists() {
                    self.no(&head.tag, Some(&Code::TryCreate), "Mailbox does not exist.");
                    return LiteralDecision::Reject;
                }
                self.append = Some(AppendState {
                    tag: head.tag,
                    name,
                    folder,
                    current: None,
                    done: Vec::new(),
                    failed: false,
                });
                self.next_message(head.message, sync)
            }
            Ok(None) => {
                if size > MAX_BUFFERED_LITERAL {
                    let tag = imap::framer::tag_of(prefix).unwrap_or_else(|| "*".into());
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::No,
                        Some(&Code::TooBig),
                        "Literal too large.",
                    );
                    return LiteralDecision::Reject;
                }
                if sync {
                    continuation(self.out.bytes(), "OK");
                }
                LiteralDecision::Accept
            }
            Err(e) => {
                let tag = e.tag.unwrap_or_else(|| "*".into());
                tagged(self.out.bytes(), &tag, Status::Bad, None, &e.message);
                LiteralDecision::Reject
            }
        }
    }

    fn next_message(&mut self, message: AppendMessage, sync: bool) -> LiteralDecision {
        let limit = self.config.config.imap.append_limit;
        if self.append.is_none() {
            return LiteralDecision::Reject;
        }
        if message.size > limit {
            let tag = self.abort_append();
            tagged(
                self.out.bytes(),
                &tag,
                Status::No,
                Some(&Code::TooBig),
                "Message too large.",
            );
            return LiteralDecision::Reject;
        }
        if let Some(account) = &self.account
            && (account.quota.bytes.is_some() || account.quota.messages.is_some())
        {
            // What is already waiting in this MULTIAPPEND counts too.
            let pending: u64 = self.append.as_ref().map_or(0, |state| {
                state.done.iter().map(|(sealed, _)| sealed.size).sum()
            });
            let usage = account.store.usage().unwrap_or_default();
            if !account
                .quota
                .allows(usage, message.size.saturating_add(pending))
            {
                let tag = self.abort_append();
                self.no(&tag, Some(&Code::OverQuota), "Quota exceeded.");
                return LiteralDecision::Reject;
            }
        }
        let Some(state) = self.append.as_mut() else {
            return LiteralDecision::Reject;
        };
        match Delivery::begin(&state.folder) {
            Ok(delivery) => {
                state.current = Some((delivery, message));
                if sync {
                    continuation(self.out.bytes(), "OK");
                }
                LiteralDecision::Stream
            }
            Err(e) => {
                warn!(session = %self.id, error = %e, "APPEND: cannot create the file");
                let tag = self.abort_append();
                self.no(&tag, Some(&Code::ServerBug), "Cannot save the message.");
                LiteralDecision::Reject
            }
        }
    }

    /// Streamed message bytes.
    pub fn append_chunk(&mut self, chunk: &[u8]) {
        let Some(state) = self.append.as_mut() else {
            return;
        };
        if state.failed {
            return;
        }
        if let Some((delivery, _)) = state.current.as_mut()
            && let Err(e) = delivery.write(chunk)
        {
            warn!(session = %self.id, error = %e, "APPEND: write failed");
            state.failed = true;
        }
    }

    /// The message literal is complete: make it durable in `tmp/`.
    pub fn append_literal_end(&mut self) {
        let Some(state) = self.append.as_mut() else {
            return;
        };
        let Some((delivery, message)) = state.current.take() else {
            return;
        };
        if state.failed {
            let _ = delivery.abort();
            return;
        }
        match delivery.seal() {
            Ok(sealed) => state.done.push((sealed, message)),
            Err(e) => {
                warn!(session = %self.id, error = %e, "APPEND: fsync failed");
                state.failed = true;
            }
        }
    }

    /// The rest of the line after a message literal: the end of the command.
    pub fn append_tail(&mut self, rest: &[u8]) -> Next {
        match imap::command::parse_append_next(rest) {
            Ok(None) => self.finish_append(),
            Ok(Some(_)) | Err(_) => {
                let tag = self.abort_append();
                tagged(
                    self.out.bytes(),
                    &tag,
                    Status::Bad,
                    None,
                    "Invalid APPEND arguments.",
                );
            }
        }
        Next::Continue
    }

    fn finish_append(&mut self) {
        let Some(state) = self.append.take() else {
            return;
        };
        if state.failed {
            remove_sealed(&state.done);
            self.no(
                &state.tag,
                Some(&Code::ServerBug),
                "Cannot save the message.",
            );
            return;
        }
        // Keywords need the target's dovecot-keywords: through the shared index.
        let needs_keywords = state
            .done
            .iter()
            .any(|(_, m)| m.flags.iter().any(|f| matches!(f, Flag::Keyword(_))));
        let open = if needs_keywords {
            self.shared
                .imap_hub
                .open(&state.folder, index_options(false))
                .ok()
        } else {
            None
        };
        let mut uid_validity = 0;
        let mut uids = Vec::new();
        for (sealed, message) in &state.done {
            let mut flags = MessageFlags::default();
            for flag in &message.flags {
                match flag {
                    Flag::Seen => flags.seen = true,
                    Flag::Answered => flags.answered = true,
                    Flag::Flagged => flags.flagged = true,
                    Flag::Deleted => flags.deleted = true,
                    Flag::Draft => flags.draft = true,
                    Flag::Recent => {}
                    Flag::Keyword(name) => {
                        let bit = open
                            .as_ref()
                            .and_then(|o| o.index.lock().ok())
                            .and_then(|mut index| index.keyword_index(name, true).ok().flatten());
                        if let Some(i) = bit.filter(|i| *i < 26) {
                            flags.keywords |= 1 << i;
                        }
                    }
                }
            }
            let date = message
                .date
                .as_ref()
                .map(imap::command::DateTime::timestamp);
            match FolderIndex::append_file(
                &state.folder,
                &sealed.path,
                &flags,
                date,
                index_options(false),
            ) {
                Ok((validity, uid)) => {
                    uid_validity = validity;
                    uids.push(uid);
                }
                Err(e) => {
                    warn!(session = %self.id, error = %e, "APPEND: cannot add the message");
                    let _ = std::fs::remove_file(&sealed.path);
                    self.no(
                        &state.tag,
                        Some(&Code::ServerBug),
                        "Cannot save the message.",
                    );
                    return;
                }
            }
        }
        self.shared.imap_hub.notify(state.folder.path());
        info!(session = %self.id, mailbox = %state.name, messages = uids.len(), "appended");
        if self.selected.is_some() {
            self.refresh(true);
        }
        let code = Code::AppendUid {
            uid_validity,
            uids: imap::command::SequenceSet::from_values(&uids),
        };
        tagged(
            self.out.bytes(),
            &state.tag,
            Status::Ok,
            Some(&code),
            "APPEND completed.",
        );
    }

    /// Drops the APPEND in progress and its files; returns its tag.
    fn abort_append(&mut self) -> String {
        let Some(state) = self.append.take() else {
            return "*".into();
        };
        if let Some((delivery, _)) = state.current {
            let _ = delivery.abort();
        }
        remove_sealed(&state.done);
        state.tag
    }

    /// The connection ended mid-APPEND.
    pub fn drop_append(&mut self) {
        let _ = self.abort_append();
    }
}

fn remove_sealed(done: &[(Sealed, AppendMessage)]) {
    for (sealed, _) in done {
        let _ = std::fs::remove_file(&sealed.path);
    }
}
