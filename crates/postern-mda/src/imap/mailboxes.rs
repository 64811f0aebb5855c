//! Commands on mailboxes as names: CREATE, DELETE, RENAME, SUBSCRIBE, LIST, LSUB, STATUS.
//! Subscriptions live in the Maildir root's `subscriptions` file in Dovecot's version 2
//! format, special-use attributes of folders a client created with USE in
//! `postern-special-use`; Dovecot reads the first and ignores the second.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::Path;

use imap::command::{ListCommand, ListReturn, ListSelect, StatusItem};
use imap::response::{Code, Status, tagged, write_mailbox};
use maildir::{Folder, FolderIndex, IndexOptions, MailStore};
use tracing::warn;

use super::session::Session;

const SUBSCRIPTIONS: &str = "subscriptions";
const SPECIAL_USE: &str = "postern-special-use";
const SPECIAL_USE_ATTRIBUTES: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

impl Session {
    /// The client's mailbox name as UTF-8: modified UTF-7 unless UTF8=ACCEPT is on.
    pub fn mailbox_name(&self, raw: &str) -> Result<String, String> {
        let name = if self.enabled.utf8 {
            raw.to_string()
        } else {
            maildir::mutf7::decode(raw).map_err(|e| format!("Invalid mailbox name: {e}"))?
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_string());
        }
        let sep = self.separator();
        Ok(name.trim_end_matches(sep).to_string())
    }

    /// A mailbox name as the client expects it.
    pub fn client_name(&self, name: &str) -> String {
        if self.enabled.utf8 {
            name.to_string()
        } else {
            maildir::mutf7::encode(name)
        }
    }

    /// Resolves a client name to a folder of the account's store, or answers NO.
    pub fn resolve(&mut self, tag: &str, raw: &str) -> Option<(String, Folder)> {
        let store = &self.account.as_ref()?.store;
        let result = self.mailbox_name(raw).and_then(|name| {
            store
                .folder(&name)
                .map(|f| (name, f))
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(found) => Some(found),
            Err(reason) => {
                self.no(tag, Some(&Code::Cannot), &reason);
                None
            }
        }
    }

    fn mail_store(&self) -> Option<&MailStore> {
        self.account.as_ref().map(|a| &a.store)
    }

    pub fn create(&mut self, tag: &str, raw: &str, special_use: &[String]) {
        let Some((name, folder)) = self.resolve(tag, raw) else {
            return;
        };
        if folder.exists() {
            self.no(tag, Some(&Code::AlreadyExists), "Mailbox already exists.");
            return;
        }
        for attr in special_use {
            if !SPECIAL_USE_ATTRIBUTES
                .iter()
                .any(|a| a.eq_ignore_ascii_case(attr))
            {
                self.no(
                    tag,
                    Some(&Code::UseAttr),
                    "Unsupported special-use attribute.",
                );
                return;
            }
        }
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        // Parents first: in the fs layout they are directories anyway; in Maildir++ a parent
        // that is not a mailbox would show as \NonExistent.
        let sep = store.separator();
        let mut parent = String::new();
        let levels: Vec<&str> = name.split(sep).collect();
        for level in levels.iter().take(levels.len().saturating_sub(1)) {
            if !parent.is_empty() {
                parent.push(sep);
            }
            parent.push_str(level);
            if let Ok(f) = store.folder(&parent)
                && !f.exists()
            {
                let _ = f.ensure();
            }
        }
        if let Err(e) = folder.ensure() {
            warn!(session = %self.id, mailbox = %name, error = %e, "CREATE failed");
            self.no(tag, Some(&Code::ServerBug), "Cannot create the mailbox.");
            return;
        }
        if !special_use.is_empty() {
            let mut uses = read_special_use(store.root());
            uses.insert(name.clone(), special_use.join(" "));
            if let Err(e) = write_special_use(store.root(), &uses) {
                warn!(session = %self.id, error = %e, "cannot record special use");
            }
        }
        self.ok(tag, "CREATE completed.");
    }

    pub fn delete(&mut self, tag: &str, raw: &str) {
        let Some((name, folder)) = self.resolve(tag, raw) else {
            return;
        };
        if name == "INBOX" {
            self.no(tag, Some(&Code::Cannot), "INBOX cannot be deleted.");
            return;
        }
        if !folder.exists() {
            self.no(tag, Some(&Code::NonExistent), "Mailbox does not exist.");
            return;
        }
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        let sep = store.separator();
        let prefix = format!("{name}{sep}");
        let has_children = store
            .folders()
            .unwrap_or_default()
            .iter()
            .any(|f| f.name().starts_with(&prefix));
        if self.selected.as_ref().is_some_and(|s| s.name == name) {
            self.selected = None;
        }
        let result = if has_children {
            // As Dovecot: the messages go, the name stays as a parent of its children.
            remove_messages(&folder)
        } else {
            remove_folder(&folder)
        };
        if let Err(e) = result {
            warn!(session = %self.id, mailbox = %name, error = %e, "DELETE failed");
            self.no(tag, Some(&Code::ServerBug), "Cannot delete the mailbox.");
            return;
        }
        let mut subs = read_subscriptions(store.root(), sep);
        if !has_children && subs.remove(&name) {
            let _ = write_subscriptions(store.root(), sep, &subs);
        }
        self.ok(tag, "DELETE completed.");
    }

    pub fn rename(&mut self, tag: &str, raw_from: &str, raw_to: &str) {
        let Some((from, from_folder)) = self.resolve(tag, raw_from) else {
            return;
        };
        let Some((to, to_folder)) = self.resolve(tag, raw_to) else {
            return;
        };
        if !from_folder.exists() {
            self.no(tag, Some(&Code::NonExistent), "Mailbox does not exist.");
            return;
        }
        if to_folder.exists() {
            self.no(
                tag,
                Some(&Code::AlreadyExists),
                "Target mailbox already exists.",
            );
            return;
        }
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        let sep = store.separator();
        if to.starts_with(&format!("{from}{sep}")) {
            self.no(
                tag,
                Some(&Code::Cannot),
                "Cannot rename a mailbox under itself.",
            );
            return;
        }
        if from == "INBOX" {
            match rename_inbox(&store, &to_folder) {
                Ok(()) => self.ok(tag, "RENAME completed."),
                Err(e) => {
                    warn!(session = %self.id, error = %e, "RENAME INBOX failed");
                    self.no(tag, Some(&Code::ServerBug), "Cannot rename INBOX.");
                }
            }
            return;
        }
        if self.selected.as_ref().is_some_and(|s| s.name == from) {
            self.selected = None;
        }
        // Children move with their parent. In the fs layout they are inside its directory; in
        // Maildir++ each is its own `.a.b` directory.
        let prefix = format!("{from}{sep}");
        let mut moves = vec![(
            from_folder.path().to_path_buf(),
            to_folder.path().to_path_buf(),
        )];
        let mut renamed = vec![(from.clone(), to.clone())];
        let children: Vec<Folder> = store
            .folders()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.name().starts_with(&prefix))
            .collect();
        for child in children {
            let new_name = format!("{to}{}", child.name().get(from.len()..).unwrap_or_default());
            renamed.push((child.name().to_string(), new_name.clone()));
            if store.layout() == maildir::Layout::MaildirPlusPlus
                && let Ok(target) = store.folder(&new_name)
            {
                moves.push((child.path().to_path_buf(), target.path().to_path_buf()));
            }
        }
        if let Some(parent) = to_folder.path().parent() {
            let _ = fs::create_dir_all(parent);
        }
        for (source, target) in &moves {
            if let Err(e) = fs::rename(source, target) {
                warn!(session = %self.id, error = %e, "RENAME failed");
                self.no(tag, Some(&Code::ServerBug), "Cannot rename the mailbox.");
                return;
            }
        }
        let mut subs = read_subscriptions(store.root(), sep);
        let mut uses = read_special_use(store.root());
        let mut changed = false;
        for (old, new) in &renamed {
            if subs.remove(old) {
                subs.insert(new.clone());
                changed = true;
            }
            if let Some(attr) = uses.remove(old) {
                uses.insert(new.clone(), attr);
                let _ = write_special_use(store.root(), &uses);
            }
        }
        if changed {
            let _ = write_subscriptions(store.root(), sep, &subs);
        }
        self.ok(tag, "RENAME completed.");
    }

    pub fn subscribe(&mut self, tag: &str, raw: &str, on: bool) {
        let Some((name, _folder)) = self.resolve(tag, raw) else {
            return;
        };
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        let sep = store.separator();
        let mut subs = read_subscriptions(store.root(), sep);
        let changed = if on {
            subs.insert(name)
        } else {
            subs.remove(&name)
        };
        if changed && let Err(e) = write_subscriptions(store.root(), sep, &subs) {
            warn!(session = %self.id, error = %e, "cannot write subscriptions");
            self.no(tag, Some(&Code::ServerBug), "Cannot save the subscription.");
            return;
        }
        self.ok(
            tag,
            if on {
                "SUBSCRIBE completed."
            } else {
                "UNSUBSCRIBE completed."
            },
        );
    }

    pub fn list(&mut self, tag: &str, list: ListCommand) {
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        let sep = store.separator();
        if list.patterns.iter().all(String::is_empty) && list.select.is_empty() {
            // The separator query.
            self.out
                .extend(format!("* LIST (\\Noselect) \"{sep}\" \"\"\r\n").as_bytes());
            self.ok(tag, "LIST completed.");
            return;
        }
        let subscribed_only = list.select.contains(&ListSelect::Subscribed);
        let special_only = list.select.contains(&ListSelect::SpecialUse);
        let recursive = list.select.contains(&ListSelect::RecursiveMatch);
        let want_subscribed = subscribed_only || list.ret.contains(&ListReturn::Subscribed);
        let want_special =
            special_only || list.ret.contains(&ListReturn::SpecialUse) || !list.extended;
        let status_items = list.ret.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let subs = read_subscriptions(store.root(), sep);
        let uses = read_special_use(store.root());
        let folders: Vec<String> = store
            .folders()
            .unwrap_or_default()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        let tree = Tree::new(&folders, &subs, sep);
        let mut patterns = Vec::new();
        for pattern in &list.patterns {
            let decoded = if self.enabled.utf8 {
                Some(pattern.clone())
            } else {
                maildir::mutf7::decode(pattern).ok()
            };
            if let Some(p) = decoded {
                patterns.push(format!("{}{p}", self.mailbox_name_ref(&list.reference)));
            }
        }
        let mut lines = Vec::new();
        for (name, node) in &tree.nodes {
            let matched = patterns.iter().any(|p| wildcard_match(p, name, sep));
            if !matched {
                continue;
            }
            let subscribed = subs.contains(name);
            if subscribed_only && !subscribed && !(recursive && node.subscribed_child) {
                continue;
            }
            if !node.exists && subscribed_only && !subscribed && !recursive {
                continue;
            }
            if !node.exists && !subscribed_only && !node.has_children {
                continue;
            }
            let special = special_use_of(name, &uses);
            if special_only && special.is_none() {
                continue;
            }
            let mut attrs: Vec<String> = Vec::new();
            if !node.exists {
                attrs.push(if list.extended {
                    "\\NonExistent".into()
                } else {
                    "\\Noselect".into()
                });
            }
            attrs.push(if node.has_children {
                "\\HasChildren".into()
            } else {
                "\\HasNoChildren".into()
            });
            if want_subscribed && subscribed {
                attrs.push("\\Subscribed".into());
            }
            if want_special && let Some(s) = &special {
                attrs.push(s.clone());
            }
            let mut line = format!("* LIST ({}) \"{sep}\" ", attrs.join(" ")).into_bytes();
            write_mailbox(&mut line, self.client_name(name));
            if recursive && subscribed_only && node.subscribed_child && !subscribed {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            line.extend_from_slice(b"\r\n");
            lines.push((name.clone(), node.exists, line));
        }
        for (name, exists, line) in lines {
            self.out.extend(&line);
            if let (Some(items), true) = (&status_items, exists) {
                self.status_line(&name, items);
            }
        }
        self.ok(tag, "LIST completed.");
    }

    fn mailbox_name_ref(&self, reference: &str) -> String {
        if self.enabled.utf8 {
            reference.to_string()
        } else {
            maildir::mutf7::decode(reference).unwrap_or_else(|_| reference.to_string())
        }
    }

    pub fn lsub(&mut self, tag: &str, reference: &str, pattern: &str) {
        let Some(store) = self.mail_store().cloned() else {
            return;
        };
        let sep = store.separator();
        let subs = read_subscriptions(store.root(), sep);
        let full = format!(
            "{}{}",
            self.mailbox_name_ref(reference),
            self.mailbox_name_ref(pattern)
        );
        for name in &subs {
            if !wildcard_match(&full, name, sep) {
                continue;
            }
            let exists = store.folder(name).is_ok_and(|f| f.exists());
            let attrs = if exists { "" } else { "\\Noselect" };
            let mut line = format!("* LSUB ({attrs}) \"{sep}\" ").into_bytes();
            write_mailbox(&mut line, self.client_name(name));
            line.extend_from_slice(b"\r\n");
            self.out.extend(&line);
        }
        self.ok(tag, "LSUB completed.");
    }

    pub fn status(&mut self, tag: &str, raw: &str, items: &[StatusItem]) {
        let Some((name, folder)) = self.resolve(tag, raw) else {
            return;
        };
        if !folder.exists() {
            self.no(tag, Some(&Code::NonExistent), "Mailbox does not exist.");
            return;
        }
        if self.status_line(&name, items) {
            self.ok(tag, "STATUS completed.");
        } else {
            self.no(tag, Some(&Code::ServerBug), "Cannot read the mailbox.");
        }
    }

    /// Writes `* STATUS name (...)`; false if the folder cannot be read.
    fn status_line(&mut self, name: &str, items: &[StatusItem]) -> bool {
        let Some(store) = self.mail_store().cloned() else {
            return false;
        };
        let Ok(folder) = store.folder(name) else {
            return false;
        };
        let options = IndexOptions {
            read_only: true,
            lock_timeout: std::time::Duration::from_secs(10),
        };
        // An open folder's shared index is fresher and cheaper than a cold read.
        let status = match self.shared.imap_hub.get(folder.path()) {
            Some(open) => match open.index.lock() {
                Ok(mut index) => {
                    let _ = open.sync(&mut index);
                    Some(super::selected::status_of(&index))
                }
                Err(_) => None,
            },
            None => FolderIndex::status(&folder, options).ok(),
        };
        let Some(status) = status else {
            warn!(session = %self.id, mailbox = %name, "STATUS: cannot read the folder");
            return false;
        };
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", status.messages),
                StatusItem::Recent => format!("RECENT {}", status.recent),
                StatusItem::UidNext => format!("UIDNEXT {}", status.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", status.uid_validity),
                StatusItem::Unseen => format!("UNSEEN {}", status.unseen),
                StatusItem::Deleted => format!("DELETED {}", status.deleted),
                StatusItem::Size => format!("SIZE {}", status.size),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", status.highest_mod_seq),
                StatusItem::AppendLimit => {
                    format!("APPENDLIMIT {}", self.config.config.imap.append_limit)
                }
            });
        }
        let mut line = b"* STATUS ".to_vec();
        write_mailbox(&mut line, self.client_name(name));
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.out.extend(&line);
        true
    }

    pub fn not_found(&mut self, tag: &str) {
        tagged(
            self.out.bytes(),
            tag,
            Status::No,
            Some(&Code::NonExistent),
            "Mailbox does not exist.",
        );
    }
}

/// The special-use attribute of a folder: what CREATE ... USE recorded, else by the name
/// Dovecot's example config gives the special folders.
fn special_use_of(name: &str, uses: &BTreeMap<String, String>) -> Option<String> {
    if let Some(attr) = uses.get(name) {
        return Some(attr.clone());
    }
    Some(
        match name {
            "Sent" | "Sent Messages" | "Sent Items" => "\\Sent",
            "Drafts" => "\\Drafts",
            "Junk" | "Spam" => "\\Junk",
            "Trash" | "Deleted Messages" => "\\Trash",
            "Archive" => "\\Archive",
            _ => return None,
        }
        .to_string(),
    )
}

/// Every mailbox and every parent level implied by a child, with what LIST says of it.
struct Tree {
    nodes: BTreeMap<String, Node>,
}

#[derive(Default)]
struct Node {
    exists: bool,
    has_children: bool,
    subscribed_child: bool,
}

impl Tree {
    fn new(folders: &[String], subs: &BTreeSet<String>, sep: char) -> Tree {
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        for name in folders {
            nodes.entry(name.clone()).or_default().exists = true;
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once(sep) {
                nodes.entry(p.to_string()).or_default().has_children = true;
                parent = p;
            }
        }
        for name in subs {
            nodes.entry(name.clone()).or_default();
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once(sep) {
                nodes.entry(p.to_string()).or_default().subscribed_child = true;
                parent = p;
            }
        }
        Tree { nodes }
    }
}

/// IMAP LIST wildcards: `*` matches anything, `%` anything but the separator. INBOX matches
/// case-insensitively.
pub fn wildcard_match(pattern: &str, name: &str, sep: char) -> bool {
    let pattern = match (pattern.get(..5), pattern.get(5..)) {
        (Some(head), Some(rest))
            if head.eq_ignore_ascii_case("INBOX") && name.starts_with("INBOX") =>
        {
            format!("INBOX{rest}")
        }
        _ => pattern.to_string(),
    };
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Memoized: bounded work (and memory: patterns are short) for hostile patterns.
    if p.len() > 1024 || n.len() > 4096 {
        return false;
    }
    let mut memo = vec![vec![None; n.len() + 1]; p.len() + 1];
    matches_at(&p, &n, 0, 0, sep, &mut memo)
}

fn matches_at(
    p: &[char],
    n: &[char],
    i: usize,
    j: usize,
    sep: char,
    memo: &mut Vec<Vec<Option<bool>>>,
) -> bool {
    if let Some(Some(known)) = memo.get(i).and_then(|row| row.get(j)) {
        return *known;
    }
    let result = match p.get(i) {
        None => j == n.len(),
        Some('*') => (j..=n.len()).any(|k| matches_at(p, n, i + 1, k, sep, memo)),
        Some('%') => {
            let mut k = j;
            let mut any = matches_at(p, n, i + 1, k, sep, memo);
            while !any && k < n.len() && n.get(k) != Some(&sep) {
                k += 1;
                any = matches_at(p, n, i + 1, k, sep, memo);
            }
            any
        }
        Some(c) => n.get(j) == Some(c) && matches_at(p, n, i + 1, j + 1, sep, memo),
    };
    if let Some(slot) = memo.get_mut(i).and_then(|row| row.get_mut(j)) {
        *slot = Some(result);
    }
    result
}

/// The subscribed names (UTF-8, levels joined by `sep`). Reads Dovecot's version 2 format
/// (`V\t2` header, levels separated by TAB, `\x01` escapes) and the old one-name-per-line one.
pub fn read_subscriptions(root: &Path, sep: char) -> BTreeSet<String> {
    let Ok(text) = fs::read_to_string(root.join(SUBSCRIPTIONS)) else {
        return BTreeSet::new();
    };
    let mut lines = text.lines();
    let mut out = BTreeSet::new();
    let v2 = text.starts_with("V\t2");
    if v2 {
        lines.next();
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let name = if v2 {
            line.split('\t')
                .map(unescape)
                .collect::<Vec<_>>()
                .join(&sep.to_string())
        } else {
            maildir::mutf7::decode(line).unwrap_or_else(|_| line.to_string())
        };
        out.insert(name);
    }
    out
}

fn write_subscriptions(root: &Path, sep: char, names: &BTreeSet<String>) -> std::io::Result<()> {
    let mut text = String::from("V\t2\n\n");
    for name in names {
        let levels: Vec<String> = name.split(sep).map(escape).collect();
        text.push_str(&levels.join("\t"));
        text.push('\n');
    }
    replace_file(&root.join(SUBSCRIPTIONS), text.as_bytes())
}

fn escape(level: &str) -> String {
    let mut out = String::with_capacity(level.len());
    for c in level.chars() {
        match c {
            '\x01' => out.push_str("\x011"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(level: &str) -> String {
    let mut out = String::with_capacity(level.len());
    let mut chars = level.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('1') => out.push('\x01'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn read_special_use(root: &Path) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(root.join(SPECIAL_USE)) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(attr, name)| (name.to_string(), attr.to_string()))
        .collect()
}

fn write_special_use(root: &Path, uses: &BTreeMap<String, String>) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, attr) in uses {
        text.push_str(&format!("{attr}\t{name}\n"));
    }
    replace_file(&root.join(SPECIAL_USE), text.as_bytes())
}

/// Writes a small file by temp + rename, so readers see the old or the new one.
fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(data)?;
    file.sync_data()?;
    fs::rename(&tmp, path)
}

/// Removes a folder's messages and control files, keeping its directory (it has children).
fn remove_messages(folder: &Folder) -> std::io::Result<()> {
    for dir in [folder.cur_dir(), folder.new_dir(), folder.tmp_dir()] {
        if dir.is_dir() {
            fs::remove_dir_all(&dir)?;
        }
    }
    Ok(())
}

/// Removes a folder: renamed away first, so a crash never leaves half a mailbox visible.
fn remove_folder(folder: &Folder) -> std::io::Result<()> {
    let path = folder.path();
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let trash = parent.join(format!(
        ".postern-deleting.{}.{}",
        std::process::id(),
        now_nanos()
    ));
    fs::rename(path, &trash)?;
    fs::remove_dir_all(&trash)
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// RENAME INBOX: its messages move to the new folder; INBOX stays, empty (RFC 3501).
fn rename_inbox(store: &MailStore, target: &Folder) -> std::io::Result<()> {
    target
        .ensure()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let inbox = store.inbox();
    for (from, to) in [
        (inbox.cur_dir(), target.cur_dir()),
        (inbox.new_dir(), target.new_dir()),
    ] {
        for entry in fs::read_dir(&from)? {
            let entry = entry?;
            fs::rename(entry.path(), to.join(entry.file_name()))?;
        }
    }
    // The moved files get new UIDs in the target; INBOX's list must forget them.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "INBOX", '.'));
        assert!(wildcard_match("%", "Sent", '.'));
        assert!(!wildcard_match("%", "Lists.rust", '.'));
        assert!(wildcard_match("Lists.%", "Lists.rust", '.'));
        assert!(wildcard_match("inbox", "INBOX", '.'));
        assert!(wildcard_match("*s*", "Lists.rust", '.'));
        assert!(!wildcard_match("Sent", "Sent.x", '.'));
        let long = "*%".repeat(200);
        assert!(!wildcard_match(&format!("{long}q"), &"a.".repeat(100), '.'));
    }

    #[test]
    fn subscriptions_round_trip_in_dovecot_v2_format() {
        let dir = tempfile::tempdir().unwrap();
        let names: BTreeSet<String> = ["INBOX", "Lists.rust", "Tab\there"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        write_subscriptions(dir.path(), '.', &names).unwrap();
        let text = fs::read_to_string(dir.path().join(SUBSCRIPTIONS)).unwrap();
        assert!(text.starts_with("V\t2\n\n"));
        assert!(text.contains("Lists\trust\n"));
        assert_eq!(read_subscriptions(dir.path(), '.'), names);
    }
}
