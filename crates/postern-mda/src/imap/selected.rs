//! The selected folder: SELECT/EXAMINE, this session's view of it (sequence numbers, the flags
//! it last told the client), the untagged updates that keep the view in step with other
//! sessions, LMTP deliveries and Dovecot, and EXPUNGE, CLOSE, STORE, COPY and MOVE.

use std::sync::Arc;
use std::time::Duration;

use imap::command::{Flag, SelectParams, SequenceSet, StoreMode};
use imap::response::{Code, Status, tagged, untagged, write_flags};
use maildir::{Folder, FolderIndex, FolderStatus, IndexOptions, MessageFlags};
use tokio::sync::watch;
use tracing::warn;

use super::hub::OpenFolder;
use super::session::Session;

/// One message of this session's view: 8 bytes, so a thousand sessions on a 100,000-message
/// INBOX stay small. What the client was last told of its flags is tracked by modseq.
#[derive(Debug, Clone, Copy)]
pub struct ViewEntry {
    pub uid: u32,
    pub recent: bool,
}

#[derive(Debug)]
pub struct Selected {
    pub name: String,
    pub folder: Folder,
    pub open: Arc<OpenFolder>,
    pub read_only: bool,
    /// Position + 1 is the sequence number.
    pub view: Vec<ViewEntry>,
    pub watch: watch::Receiver<u64>,
    /// How many keyword names the last FLAGS response listed.
    pub keywords_told: usize,
    /// Flag changes up to this modseq have been reported.
    pub told_mod_seq: u64,
    /// Flags this session reported itself (STORE, FETCH setting \Seen) since the last
    /// refresh, by UID: the modseq they were reported with, so refresh does not repeat them.
    pub own: std::collections::HashMap<u32, u64>,
}

impl Selected {
    pub fn position_of(&self, uid: u32) -> Option<usize> {
        self.view.binary_search_by_key(&uid, |e| e.uid).ok()
    }

    pub fn largest_uid(&self) -> u32 {
        self.view.last().map_or(0, |e| e.uid)
    }

    /// Positions in the view that `set` names, ascending.
    pub fn targets(&self, uid: bool, set: &SequenceSet) -> Vec<usize> {
        if uid {
            let largest = self.largest_uid();
            self.view
                .iter()
                .enumerate()
                .filter(|(_, e)| set.contains(e.uid, largest))
                .map(|(i, _)| i)
                .collect()
        } else {
            let largest = u32::try_from(self.view.len()).unwrap_or(u32::MAX);
            (0..self.view.len())
                .filter(|i| set.contains(u32::try_from(i + 1).unwrap_or(u32::MAX), largest))
                .collect()
        }
    }
}

pub fn index_options(read_only: bool) -> IndexOptions {
    IndexOptions {
        read_only,
        lock_timeout: Duration::from_secs(10),
    }
}

/// STATUS figures from an index in memory.
pub fn status_of(index: &FolderIndex) -> FolderStatus {
    let messages = index.messages();
    FolderStatus {
        messages: u32::try_from(messages.len()).unwrap_or(u32::MAX),
        unseen: count(messages.iter().filter(|m| !m.flags.seen)),
        deleted: count(messages.iter().filter(|m| m.flags.deleted)),
        recent: count(messages.iter().filter(|m| m.recent)),
        uid_next: index.next_uid(),
        uid_validity: index.uid_validity(),
        size: messages.iter().map(|m| m.vsize.unwrap_or(m.size)).sum(),
        highest_mod_seq: index.highest_mod_seq(),
    }
}

fn count<T>(iter: impl Iterator<Item = T>) -> u32 {
    u32::try_from(iter.count()).unwrap_or(u32::MAX)
}

/// The IMAP flags of a message.
pub fn imap_flags(flags: &MessageFlags, keywords: &[String], recent: bool) -> Vec<Flag> {
    let mut out = Vec::new();
    if flags.seen {
        out.push(Flag::Seen);
    }
    if flags.answered {
        out.push(Flag::Answered);
    }
    if flags.flagged {
        out.push(Flag::Flagged);
    }
    if flags.deleted {
        out.push(Flag::Deleted);
    }
    if flags.draft {
        out.push(Flag::Draft);
    }
    for (i, name) in keywords.iter().enumerate().take(26) {
        if flags.keywords & (1 << i) != 0 {
            out.push(Flag::Keyword(name.clone()));
        }
    }
    if recent {
        out.push(Flag::Recent);
    }
    out
}

fn system_flags(keywords: &[String]) -> Vec<Flag> {
    let mut flags = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    flags.extend(keywords.iter().map(|k| Flag::Keyword(k.clone())));
    flags
}

impl Session {
    pub fn select(&mut self, tag: &str, raw: &str, params: SelectParams, read_only: bool) {
        if let Some(previous) = self.selected.take() {
            drop(previous);
            if self.enabled.qresync {
                untagged(
                    self.out.bytes(),
                    Status::Ok,
                    Some(&Code::Closed),
                    "Previous mailbox closed.",
                );
            }
        }
        let Some((name, folder)) = self.resolve(tag, raw) else {
            return;
        };
        if !folder.exists() {
            self.not_found(tag);
            return;
        }
        if params.qresync.is_some() && !self.enabled.qresync {
            tagged(
                self.out.bytes(),
                tag,
                Status::Bad,
                None,
                "QRESYNC is not enabled.",
            );
            return;
        }
        if params.condstore {
            self.enabled.condstore = true;
        }
        let open = match self.shared.imap_hub.open(&folder, index_options(read_only)) {
            Ok(open) => open,
            Err(e) => {
                warn!(session = %self.id, mailbox = %name, error = %e, "SELECT: cannot open the folder");
                self.no(tag, Some(&Code::ServerBug), "Cannot open the mailbox.");
                return;
            }
        };
        let Ok(mut index) = open.index.lock() else {
            self.no(tag, Some(&Code::ServerBug), "Cannot open the mailbox.");
            return;
        };
        if let Err(e) = open.sync(&mut index) {
            warn!(session = %self.id, mailbox = %name, error = %e, "SELECT: sync failed");
        }
        let view: Vec<ViewEntry> = index
            .messages()
            .iter()
            .map(|m| ViewEntry {
                uid: m.uid,
                recent: m.recent,
            })
            .collect();
        let told_mod_seq = index.highest_mod_seq();
        let keywords = index.keyword_names().to_vec();
        let rev2 = self.enabled.rev2;
        let out = self.out.bytes();
        out.extend_from_slice(b"* FLAGS ");
        write_flags(out, &system_flags(&keywords));
        out.extend_from_slice(b"\r\n");
        let mut permanent: Vec<String> = if read_only {
            Vec::new()
        } else {
            system_flags(&keywords)
                .iter()
                .map(|f| f.as_str().to_string())
                .collect()
        };
        if !read_only {
            permanent.push("\\*".into());
        }
        untagged(
            out,
            Status::Ok,
            Some(&Code::PermanentFlags(permanent)),
            "Flags permitted.",
        );
        out.extend_from_slice(format!("* {} EXISTS\r\n", view.len()).as_bytes());
        if !rev2 {
            let recent = view.iter().filter(|e| e.recent).count();
            out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
            if let Some(first) = index.messages().iter().position(|m| !m.flags.seen) {
                let seq = u32::try_from(first + 1).unwrap_or(u32::MAX);
                untagged(out, Status::Ok, Some(&Code::Unseen(seq)), "First unseen.");
            }
        }
        untagged(
            out,
            Status::Ok,
            Some(&Code::UidValidity(index.uid_validity())),
            "UIDs valid.",
        );
        untagged(
            out,
            Status::Ok,
            Some(&Code::UidNext(index.next_uid())),
            "Predicted next UID.",
        );
        if self.enabled.condstore {
            untagged(
                out,
                Status::Ok,
                Some(&Code::HighestModSeq(index.highest_mod_seq())),
                "Highest",
            );
        }
        if rev2 {
            let mut line = format!("* LIST () \"{}\" ", self.separator()).into_bytes();
            imap::response::write_mailbox(&mut line, self.client_name(&name));
            line.extend_from_slice(b"\r\n");
            self.out.extend(&line);
        }
        if let Some(q) = &params.qresync
            && q.uid_validity == index.uid_validity()
        {
            self.qresync_report(&index, &view, q);
        }
        drop(index);
        let watch = open.watch();
        self.selected = Some(Selected {
            name,
            folder,
            open,
            read_only,
            view,
            watch,
            keywords_told: keywords.len(),
            told_mod_seq,
            own: std::collections::HashMap::new(),
        });
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        tagged(
            self.out.bytes(),
            tag,
            Status::Ok,
            Some(&code),
            if read_only {
                "EXAMINE completed."
            } else {
                "SELECT completed."
            },
        );
    }

    /// QRESYNC on SELECT: what vanished and what changed since the client's modseq.
    fn qresync_report(
        &mut self,
        index: &FolderIndex,
        view: &[ViewEntry],
        q: &imap::command::QresyncParams,
    ) {
        let largest = index.next_uid().saturating_sub(1);
        let known = |uid: u32| {
            q.known_uids
                .as_ref()
                .is_none_or(|set| set.contains(uid, largest))
        };
        let vanished: Vec<u32> = match index.expunged_since(q.mod_seq) {
            Some(uids) => {
                let mut v: Vec<u32> = uids.into_iter().filter(|u| known(*u)).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            // The state does not reach back that far: every known UID that is gone.
            None => match &q.known_uids {
                Some(set) => set
                    .iter(largest)
                    .filter(|uid| index.get(*uid).is_none())
                    .take(1_000_000)
                    .collect(),
                None => Vec::new(),
            },
        };
        if !vanished.is_empty() {
            let line = format!(
                "* VANISHED (EARLIER) {}\r\n",
                SequenceSet::from_values(&vanished)
            );
            self.out.extend(line.as_bytes());
        }
        let keywords = index.keyword_names();
        for (i, entry) in view.iter().enumerate() {
            let Some(message) = index.get(entry.uid) else {
                continue;
            };
            if message.mod_seq > q.mod_seq {
                let mut line = format!("* {} FETCH (UID {} FLAGS ", i + 1, entry.uid).into_bytes();
                write_flags(
                    &mut line,
                    &imap_flags(&message.flags, keywords, entry.recent && !self.enabled.rev2),
                );
                line.extend_from_slice(format!(" MODSEQ ({}))\r\n", message.mod_seq).as_bytes());
                self.out.extend(&line);
            }
        }
    }

    /// Brings the view up to date and tells the client: expunges (only when `expunge_ok`:
    /// not during FETCH, STORE, SEARCH), flag changes, new messages, new keywords.
    pub fn refresh(&mut self, expunge_ok: bool) {
        let qresync = self.enabled.qresync;
        let condstore = self.enabled.condstore;
        let rev2 = self.enabled.rev2;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let open = sel.open.clone();
        let Ok(mut index) = open.index.lock() else {
            return;
        };
        match open.sync(&mut index) {
            Ok(None) => {}
            Ok(Some(changes)) => {
                if !changes.added.is_empty()
                    || !changes.expunged.is_empty()
                    || !changes.flags_changed.is_empty()
                {
                    open.notify();
                }
            }
            Err(e) => warn!(session = %self.id, error = %e, "folder sync failed"),
        }
        let mut out = Vec::new();
        if expunge_ok {
            let gone: Vec<usize> = sel
                .view
                .iter()
                .enumerate()
                .filter(|(_, e)| index.get(e.uid).is_none())
                .map(|(i, _)| i)
                .collect();
            if !gone.is_empty() {
                if qresync {
                    let uids: Vec<u32> = gone
                        .iter()
                        .filter_map(|i| sel.view.get(*i))
                        .map(|e| e.uid)
                        .collect();
                    out.extend_from_slice(
                        format!("* VANISHED {}\r\n", SequenceSet::from_values(&uids)).as_bytes(),
                    );
                } else {
                    for i in gone.iter().rev() {
                        out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
                    }
                }
                sel.view.retain(|e| index.get(e.uid).is_some());
            }
        }
        let keywords = index.keyword_names().to_vec();
        if keywords.len() != sel.keywords_told {
            out.extend_from_slice(b"* FLAGS ");
            write_flags(&mut out, &system_flags(&keywords));
            out.extend_from_slice(b"\r\n");
            if !sel.read_only {
                let mut permanent: Vec<String> = system_flags(&keywords)
                    .iter()
                    .map(|f| f.as_str().to_string())
                    .collect();
                permanent.push("\\*".into());
                untagged(
                    &mut out,
                    Status::Ok,
                    Some(&Code::PermanentFlags(permanent)),
                    "Flags permitted.",
                );
            }
            sel.keywords_told = keywords.len();
        }
        // Both lists are in UID order: one merge pass finds what changed since the last
        // report (modseq), minus what this session reported itself.
        let messages = index.messages();
        let told = sel.told_mod_seq;
        let mut m = 0;
        for (i, entry) in sel.view.iter().enumerate() {
            while messages.get(m).is_some_and(|msg| msg.uid < entry.uid) {
                m += 1;
            }
            let Some(msg) = messages.get(m).filter(|msg| msg.uid == entry.uid) else {
                continue;
            };
            if msg.mod_seq <= told || sel.own.get(&entry.uid) == Some(&msg.mod_seq) {
                continue;
            }
            let mut line = format!("* {} FETCH (UID {} FLAGS ", i + 1, entry.uid).into_bytes();
            write_flags(
                &mut line,
                &imap_flags(&msg.flags, &keywords, entry.recent && !rev2),
            );
            if condstore {
                line.extend_from_slice(format!(" MODSEQ ({})", msg.mod_seq).as_bytes());
            }
            line.extend_from_slice(b")\r\n");
            out.extend_from_slice(&line);
        }
        sel.told_mod_seq = index.highest_mod_seq();
        sel.own.clear();
        let last = sel.largest_uid();
        let start = messages.partition_point(|msg| msg.uid <= last);
        let added = messages.get(start..).unwrap_or_default();
        if !added.is_empty() {
            sel.view.extend(added.iter().map(|msg| ViewEntry {
                uid: msg.uid,
                recent: msg.recent,
            }));
            out.extend_from_slice(format!("* {} EXISTS\r\n", sel.view.len()).as_bytes());
            if !rev2 {
                let recent = sel.view.iter().filter(|e| e.recent).count();
                out.extend_from_slice(format!("* {recent} RECENT\r\n").as_bytes());
            }
        }
        drop(index);
        self.out.extend(&out);
    }

    pub fn close(&mut self, tag: &str, expunge: bool) {
        if let Some(sel) = self.selected.take()
            && expunge
            && !sel.read_only
            && let Ok(mut index) = sel.open.index.lock()
        {
            let _ = sel.open.sync(&mut index);
            let deleted: Vec<u32> = index
                .messages()
                .iter()
                .filter(|m| m.flags.deleted && sel.position_of(m.uid).is_some())
                .map(|m| m.uid)
                .collect();
            if !deleted.is_empty() {
                if let Err(e) = index.expunge(&deleted) {
                    warn!(session = %self.id, error = %e, "CLOSE: expunge failed");
                }
                sel.open.notify();
            }
        }
        self.ok(
            tag,
            if expunge {
                "CLOSE completed."
            } else {
                "UNSELECT completed."
            },
        );
    }

    pub fn expunge(&mut self, tag: &str, set: Option<SequenceSet>) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if sel.read_only {
            self.no(tag, Some(&Code::Cannot), "Mailbox is read-only.");
            return;
        }
        let open = sel.open.clone();
        let largest = sel.largest_uid();
        let deleted: Vec<u32> = match open.index.lock() {
            Ok(mut index) => {
                let _ = open.sync(&mut index);
                let uids: Vec<u32> = index
                    .messages()
                    .iter()
                    .filter(|m| m.flags.deleted && sel.position_of(m.uid).is_some())
                    .filter(|m| set.as_ref().is_none_or(|s| s.contains(m.uid, largest)))
                    .map(|m| m.uid)
                    .collect();
                match index.expunge(&uids) {
                    Ok(done) => done,
                    Err(e) => {
                        warn!(session = %self.id, error = %e, "EXPUNGE failed");
                        Vec::new()
                    }
                }
            }
            Err(_) => Vec::new(),
        };
        if !deleted.is_empty() {
            open.notify();
        }
        self.refresh(true);
        let code = self
            .enabled
            .condstore
            .then(|| {
                self.selected
                    .as_ref()
                    .and_then(|s| s.open.index.lock().ok().map(|i| i.highest_mod_seq()))
            })
            .flatten()
            .map(Code::HighestModSeq);
        tagged(
            self.out.bytes(),
            tag,
            Status::Ok,
            code.as_ref(),
            "EXPUNGE completed.",
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub fn store(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
    ) {
        if unchanged_since.is_some() {
            self.enabled.condstore = true;
        }
        let condstore = self.enabled.condstore;
        let rev2 = self.enabled.rev2;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        if sel.read_only {
            tagged(
                self.out.bytes(),
                tag,
                Status::No,
                Some(&Code::Cannot),
                "Mailbox is read-only.",
            );
            return;
        }
        let targets = sel.targets(uid, set);
        let open = sel.open.clone();
        let Ok(mut index) = open.index.lock() else {
            return;
        };
        // The flags as bits; keywords get their letters now (dovecot-keywords grows).
        let mut change = MessageFlags::default();
        for flag in flags {
            match flag {
                Flag::Seen => change.seen = true,
                Flag::Answered => change.answered = true,
                Flag::Flagged => change.flagged = true,
                Flag::Deleted => change.deleted = true,
                Flag::Draft => change.draft = true,
                Flag::Recent => {}
                Flag::Keyword(name) => match index.keyword_index(name, true) {
                    Ok(Some(i)) if i < 26 => change.keywords |= 1 << i,
                    Ok(_) => {
                        drop(index);
                        tagged(
                            self.out.bytes(),
                            tag,
                            Status::No,
                            Some(&Code::Limit),
                            "Too many keywords in this mailbox.",
                        );
                        return;
                    }
                    Err(e) => {
                        warn!(session = %self.id, error = %e, "cannot assign a keyword");
                        drop(index);
                        tagged(
                            self.out.bytes(),
                            tag,
                            Status::No,
                            Some(&Code::ServerBug),
                            "Cannot store the keyword.",
                        );
                        return;
                    }
                },
            }
        }
        let mut out = Vec::new();
        let mut modified = Vec::new();
        // Work out every new flag set first, then write them in one go: one modseq and one
        // state write for `STORE 1:* +FLAGS (\Seen)` on a large folder.
        let mut planned: Vec<(usize, MessageFlags)> = Vec::new();
        for pos in targets {
            let Some(entry) = sel.view.get(pos) else {
                continue;
            };
            let Some((old, mod_seq)) = index.get(entry.uid).map(|m| (m.flags.clone(), m.mod_seq))
            else {
                continue; // expunged meanwhile
            };
            if let Some(limit) = unchanged_since
                && mod_seq > limit
            {
                modified.push(if uid {
                    entry.uid
                } else {
                    u32::try_from(pos + 1).unwrap_or(u32::MAX)
                });
                continue;
            }
            let mut new = old;
            apply(&mut new, &change, mode);
            planned.push((pos, new));
        }
        let writes: Vec<(u32, MessageFlags)> = planned
            .iter()
            .filter_map(|(pos, new)| {
                let uid = sel.view.get(*pos)?.uid;
                (index.get(uid)?.flags != *new).then(|| (uid, new.clone()))
            })
            .collect();
        let changed_any = !writes.is_empty();
        if changed_any && let Err(e) = index.set_flags_many(&writes) {
            warn!(session = %self.id, error = %e, "STORE failed");
        }
        let keywords = index.keyword_names().to_vec();
        for (pos, _) in planned {
            let Some(entry) = sel.view.get_mut(pos) else {
                continue;
            };
            let Some(message) = index.get(entry.uid) else {
                continue;
            };
            sel.own.insert(entry.uid, message.mod_seq);
            if !silent || (condstore && unchanged_since.is_some()) {
                let mut line = format!("* {} FETCH (", pos + 1).into_bytes();
                if uid {
                    line.extend_from_slice(format!("UID {} ", entry.uid).as_bytes());
                }
                line.extend_from_slice(b"FLAGS ");
                write_flags(
                    &mut line,
                    &imap_flags(&message.flags, &keywords, entry.recent && !rev2),
                );
                if condstore {
                    line.extend_from_slice(format!(" MODSEQ ({})", message.mod_seq).as_bytes());
                }
                line.extend_from_slice(b")\r\n");
                out.extend_from_slice(&line);
            }
        }
        drop(index);
        if changed_any {
            open.notify();
        }
        self.out.extend(&out);
        self.refresh(uid);
        if modified.is_empty() {
            self.ok(tag, "STORE completed.");
        } else {
            modified.sort_unstable();
            let code = Code::Modified(SequenceSet::from_values(&modified));
            tagged(
                self.out.bytes(),
                tag,
                Status::Ok,
                Some(&code),
                "Conditional STORE failed.",
            );
        }
    }

    pub fn copy(&mut self, tag: &str, uid: bool, set: &SequenceSet, raw: &str, is_move: bool) {
        let Some((_, dest)) = self.resolve(tag, raw) else {
            return;
        };
        if !dest.exists() {
            self.no(tag, Some(&Code::TryCreate), "Mailbox does not exist.");
            return;
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        if is_move && sel.read_only {
            self.no(tag, Some(&Code::Cannot), "Mailbox is read-only.");
            return;
        }
        let uids: Vec<u32> = sel
            .targets(uid, set)
            .iter()
            .filter_map(|p| sel.view.get(*p))
            .map(|e| e.uid)
            .collect();
        if uids.is_empty() {
            self.ok(
                tag,
                if is_move {
                    "MOVE completed."
                } else {
                    "COPY completed."
                },
            );
            return;
        }
        let open = sel.open.clone();
        let same_folder = dest.path() == sel.folder.path();
        let copied = match open.index.lock() {
            Ok(index) => index.copy_to(&uids, &dest, index_options(false)),
            Err(_) => {
                self.no(tag, Some(&Code::ServerBug), "Cannot copy.");
                return;
            }
        };
        let (validity, new_uids) = match copied {
            Ok(done) => done,
            Err(e) => {
                warn!(session = %self.id, error = %e, "COPY failed");
                self.no(tag, Some(&Code::ServerBug), "Cannot copy the messages.");
                return;
            }
        };
        self.shared.imap_hub.notify(dest.path());
        let mut source: Vec<u32> = uids.clone();
        source.truncate(new_uids.len());
        let code = Code::CopyUid {
            uid_validity: validity,
            source: SequenceSet::from_values(&source),
            dest: SequenceSet::from_values(&new_uids),
        };
        if !is_move {
            if same_folder {
                self.refresh(true);
            }
            tagged(
                self.out.bytes(),
                tag,
                Status::Ok,
                Some(&code),
                "COPY completed.",
            );
            return;
        }
        untagged(self.out.bytes(), Status::Ok, Some(&code), "Moved UIDs.");
        if let Ok(mut index) = open.index.lock()
            && let Err(e) = index.expunge(&source)
        {
            warn!(session = %self.id, error = %e, "MOVE: expunge of the originals failed");
        }
        open.notify();
        self.refresh(true);
        self.ok(tag, "MOVE completed.");
    }
}

fn apply(flags: &mut MessageFlags, change: &MessageFlags, mode: StoreMode) {
    let set = |target: &mut bool, value: bool| match mode {
        StoreMode::Replace => *target = value,
        StoreMode::Add => *target |= value,
        StoreMode::Remove => *target &= !value,
    };
    set(&mut flags.seen, change.seen);
    set(&mut flags.answered, change.answered);
    set(&mut flags.flagged, change.flagged);
    set(&mut flags.deleted, change.deleted);
    set(&mut flags.draft, change.draft);
    flags.keywords = match mode {
        StoreMode::Replace => change.keywords,
        StoreMode::Add => flags.keywords | change.keywords,
        StoreMode::Remove => flags.keywords & !change.keywords,
    };
}
