//! What a session changes in a folder: flags (renaming files, as Dovecot does), expunges
//! (unlinking them), keywords (in `dovecot-keywords`, under the uidlist lock), each change
//! recorded with a modseq; and STATUS without keeping an index.

use std::fs;
use std::io;

use crate::dotlock::Dotlock;
use crate::error::MaildirError;
use crate::flags::{MessageFlags, base_name, file_name_with};
use crate::index::{FolderIndex, FolderStatus, IndexOptions, SyncChanges};
use crate::keywords::Keywords;
use crate::modseq::Update;
use crate::store::Folder;
use crate::uidlist::UIDLIST_NAME;
use crate::util::FastSet;

impl FolderIndex {
    /// Renames the message's file to carry `flags` (moving it to `cur/`). A file renamed by
    /// someone else meanwhile is found again by a resync; a file gone returns `Ok(false)`.
    /// A change bumps the message's modseq and the highest; setting the flags it already has
    /// changes nothing.
    pub fn set_flags(&mut self, uid: u32, flags: MessageFlags) -> Result<bool, MaildirError> {
        Ok(self.set_flags_many(&[(uid, flags)])?.contains(&uid))
    }

    /// [`set_flags`](Self::set_flags) for many messages with one modseq and one state write;
    /// returns the UIDs whose files now carry the flags.
    pub fn set_flags_many(
        &mut self,
        changes: &[(u32, MessageFlags)],
    ) -> Result<Vec<u32>, MaildirError> {
        let mut done = Vec::new();
        let mut updates = Vec::new();
        for (uid, flags) in changes {
            let mut resynced = false;
            while let Some(m) = self.get(*uid) {
                let from = self.message_path(m);
                let target = file_name_with(base_name(&m.file_name), flags);
                let unchanged = m.flags == *flags && !m.in_new;
                // Renaming a file onto itself succeeds only if it is still there.
                let to = if unchanged {
                    from.clone()
                } else {
                    self.folder.cur_dir().join(&target)
                };
                match fs::rename(&from, &to) {
                    Ok(()) => {
                        if !unchanged
                            && let Some(i) = self.position(*uid)
                            && let Some(m) = self.messages.get_mut(i)
                        {
                            m.file_name = target;
                            m.in_new = false;
                            m.flags = flags.clone();
                            updates.push(Update::Message {
                                uid: *uid,
                                date: m.internal_date,
                                letters: flags.letters(),
                            });
                        }
                        done.push(*uid);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound && !resynced => {
                        resynced = true;
                        self.resync_into_pending()?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) => return Err(MaildirError::io("rename", &from, e)),
                }
            }
        }
        if !updates.is_empty() {
            let modseqs = self.state.commit(
                &updates,
                self.options.lock_timeout,
                self.folder.permissions(),
            )?;
            for (update, m) in updates.iter().zip(modseqs) {
                if let Update::Message { uid, .. } = update
                    && let Some(i) = self.position(*uid)
                    && let Some(msg) = self.messages.get_mut(i)
                {
                    msg.mod_seq = m;
                    self.highest = self.highest.max(m);
                }
            }
        }
        Ok(done)
    }

    /// Unlinks the messages' files; returns the UIDs actually expunged (a file already gone
    /// was expunged by someone else: the next sync reports it) and records each with a modseq.
    pub fn expunge(&mut self, uids: &[u32]) -> Result<Vec<u32>, MaildirError> {
        let mut done = Vec::new();
        for &uid in uids {
            let mut resynced = false;
            while let Some(path) = self.path_of(uid) {
                match fs::remove_file(&path) {
                    Ok(()) => {
                        done.push(uid);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound && !resynced => {
                        resynced = true;
                        self.resync_into_pending()?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) => return Err(MaildirError::io("unlink", &path, e)),
                }
            }
        }
        if done.is_empty() {
            return Ok(done);
        }
        let removed: FastSet<u32> = done.iter().copied().collect();
        self.messages.retain(|m| !removed.contains(&m.uid));
        let updates: Vec<Update> = done.iter().map(|&uid| Update::Expunge { uid }).collect();
        match self.state.commit(
            &updates,
            self.options.lock_timeout,
            self.folder.permissions(),
        ) {
            Ok(modseqs) => {
                for m in modseqs {
                    self.highest = self.highest.max(m);
                }
                Ok(done)
            }
            Err(e) => {
                // The files are gone whatever the caller hears: the next sync reports them.
                self.pending.merge(SyncChanges {
                    expunged: done,
                    ..SyncChanges::default()
                });
                Err(e)
            }
        }
    }

    /// STATUS without keeping an index: opens the folder read-only (new files get UIDs, none
    /// is moved or claimed as recent) and counts. RECENT is the number of files in `new/`.
    pub fn status(folder: &Folder, options: IndexOptions) -> Result<FolderStatus, MaildirError> {
        let index = FolderIndex::open(
            folder,
            IndexOptions {
                read_only: true,
                ..options
            },
        )?;
        let mut status = FolderStatus {
            uid_next: index.next_uid(),
            uid_validity: index.uid_validity(),
            highest_mod_seq: index.highest_mod_seq(),
            ..FolderStatus::default()
        };
        for m in index.messages() {
            status.messages = status.messages.saturating_add(1);
            status.unseen += u32::from(!m.flags.seen);
            status.deleted += u32::from(m.flags.deleted);
            status.recent += u32::from(m.in_new);
            status.size = status.size.saturating_add(m.vsize.unwrap_or(m.size));
        }
        Ok(status)
    }

    /// [`keyword_index`](Self::keyword_index) for a folder without an open index (e.g. to
    /// build the flags of an APPEND).
    pub fn folder_keyword_index(
        folder: &Folder,
        name: &str,
        create: bool,
        options: IndexOptions,
    ) -> Result<Option<usize>, MaildirError> {
        let mut keywords = Keywords::load(folder.path())?;
        if let Some(i) = keywords.index_of(name) {
            return Ok(Some(i));
        }
        if !create {
            return Ok(None);
        }
        create_keyword(folder, &mut keywords, name, options)
    }
}

/// Assigns a keyword under the folder's uidlist lock, as Dovecot requires.
pub(crate) fn create_keyword(
    folder: &Folder,
    keywords: &mut Keywords,
    name: &str,
    options: IndexOptions,
) -> Result<Option<usize>, MaildirError> {
    if !Keywords::is_valid_name(name) {
        return Err(MaildirError::InvalidKeyword {
            name: name.to_owned(),
        });
    }
    let uidlist = folder.path().join(UIDLIST_NAME);
    let lock = Dotlock::acquire(&uidlist, options.lock_timeout, folder.permissions())?;
    let result = keywords.create(name, options.lock_timeout, folder.permissions());
    lock.release()?;
    result
}
