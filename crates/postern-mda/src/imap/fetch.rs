//! FETCH: message data from the index (flags, sizes, dates), the folder cache (ENVELOPE,
//! BODYSTRUCTURE, BODY, computed once per message) and the file (sections; a whole body is
//! streamed, not loaded).

use std::fs::File;

use imap::command::{FetchAttr, Section, SectionText, SequenceSet};
use imap::response::{Code, Status, tagged, write_flags};
use imap_message::{MessageView, SectionKind};
use maildir::IndexedMessage;
use tracing::warn;

use super::dates::internal_date;
use super::output::read_crlf;
use super::selected::imap_flags;
use super::session::{Next, Session};

/// What the cache keeps per message: the three structure strings.
#[derive(Debug)]
pub struct Structure {
    pub envelope: Vec<u8>,
    pub body_structure: Vec<u8>,
    pub body: Vec<u8>,
}

impl Structure {
    pub fn compute(raw: &[u8]) -> Structure {
        let view = MessageView::parse(raw);
        Structure {
            envelope: view.envelope(),
            body_structure: view.body_structure(true),
            body: view.body_structure(false),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            12 + self.envelope.len() + self.body_structure.len() + self.body.len(),
        );
        for part in [&self.envelope, &self.body_structure, &self.body] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    pub fn decode(mut blob: &[u8]) -> Option<Structure> {
        let mut take = || {
            let len = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
            let part = blob.get(4..4 + len)?.to_vec();
            blob = blob.get(4 + len..)?;
            Some(part)
        };
        Some(Structure {
            envelope: take()?,
            body_structure: take()?,
            body: take()?,
        })
    }
}

/// One message's file, read at most once per FETCH.
struct Loaded {
    path: std::path::PathBuf,
    crlf: Option<Vec<u8>>,
}

impl Loaded {
    fn crlf(&mut self) -> std::io::Result<&[u8]> {
        if self.crlf.is_none() {
            let mut file = File::open(&self.path)?;
            self.crlf = Some(read_crlf(&mut file)?);
        }
        Ok(self.crlf.as_deref().unwrap_or_default())
    }
}

/// Messages answered before a FETCH hands its output to the connection.
const FETCH_BATCH: usize = 256;

/// A FETCH in progress over many messages.
#[derive(Debug)]
pub struct FetchJob {
    tag: String,
    uid: bool,
    items: Vec<FetchAttr>,
    changed_since: Option<u64>,
    sets_seen: bool,
    condstore: bool,
    rev2: bool,
    open: std::sync::Arc<super::hub::OpenFolder>,
    targets: Vec<usize>,
    next: usize,
    cache_dirty: bool,
    seen_changed: bool,
}

impl Session {
    pub fn fetch(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchAttr],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Next {
        if vanished && !(uid && self.enabled.qresync && changed_since.is_some()) {
            tagged(
                self.out.bytes(),
                tag,
                Status::Bad,
                None,
                "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE.",
            );
            return Next::Continue;
        }
        if changed_since.is_some() || items.contains(&FetchAttr::ModSeq) {
            self.enabled.condstore = true;
        }
        let condstore = self.enabled.condstore;
        let rev2 = self.enabled.rev2;
        let Some(sel) = self.selected.as_ref() else {
            return Next::Continue;
        };
        let read_only = sel.read_only;
        let targets = sel.targets(uid, set);
        let open = sel.open.clone();
        if vanished && let Some(since) = changed_since {
            let largest = sel.largest_uid();
            if let Ok(index) = open.index.lock()
                && let Some(gone) = index.expunged_since(since)
            {
                let mut gone: Vec<u32> = gone
                    .into_iter()
                    .filter(|u| set.contains(*u, largest))
                    .collect();
                gone.sort_unstable();
                gone.dedup();
                if !gone.is_empty() {
                    self.out.extend(
                        format!(
                            "* VANISHED (EARLIER) {}\r\n",
                            SequenceSet::from_values(&gone)
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        let sets_seen = !read_only
            && items.iter().any(|item| match item {
                FetchAttr::BodySection { peek, .. } | FetchAttr::Binary { peek, .. } => !peek,
                FetchAttr::Rfc822 | FetchAttr::Rfc822Text => true,
                _ => false,
            });
        self.run_fetch(FetchJob {
            tag: tag.to_string(),
            uid,
            items: items.to_vec(),
            changed_since,
            sets_seen,
            condstore,
            rev2,
            open,
            targets,
            next: 0,
            cache_dirty: false,
            seen_changed: false,
        })
    }

    /// Continues a FETCH that was suspended to send what it had built.
    pub fn resume(&mut self) -> Next {
        match self.pending_fetch.take() {
            Some(job) => self.run_fetch(*job),
            None => Next::Continue,
        }
    }

    /// Answers for up to [`FETCH_BATCH`] messages, then suspends (the driver sends the
    /// output and calls [`resume`](Self::resume)), so `FETCH 1:*` on a large folder holds one
    /// batch in memory, not the whole answer.
    fn run_fetch(&mut self, mut job: FetchJob) -> Next {
        let tag = job.tag.clone();
        let tag = tag.as_str();
        let uid = job.uid;
        let items = std::mem::take(&mut job.items);
        let items = items.as_slice();
        let changed_since = job.changed_since;
        let sets_seen = job.sets_seen;
        let condstore = job.condstore;
        let rev2 = job.rev2;
        let open = job.open.clone();
        let mut cache_dirty = job.cache_dirty;
        let mut seen_changed = job.seen_changed;
        let mut done_in_batch = 0;
        while let Some(&pos) = job.targets.get(job.next) {
            if done_in_batch >= FETCH_BATCH || self.out.is_large() {
                job.items = items.to_vec();
                job.cache_dirty = cache_dirty;
                job.seen_changed = seen_changed;
                self.pending_fetch = Some(Box::new(job));
                return Next::More;
            }
            job.next += 1;
            done_in_batch += 1;
            let Some(entry) = self
                .selected
                .as_ref()
                .and_then(|s| s.view.get(pos))
                .cloned()
            else {
                continue;
            };
            // A snapshot of the message under the lock; the work happens outside it.
            let snapshot = match open.index.lock() {
                Ok(index) => index
                    .get(entry.uid)
                    .cloned()
                    .map(|m| (m, index.path_of(entry.uid), index.keyword_names().to_vec())),
                Err(_) => None,
            };
            let Some((mut message, Some(path), keywords)) = snapshot else {
                continue; // expunged: nothing to say until the EXPUNGE
            };
            if let Some(since) = changed_since
                && message.mod_seq <= since
            {
                continue;
            }
            let mut flags_item = items.contains(&FetchAttr::Flags);
            if sets_seen && !message.flags.seen {
                let mut flags = message.flags.clone();
                flags.seen = true;
                if let Ok(mut index) = open.index.lock()
                    && index.set_flags(entry.uid, flags.clone()).unwrap_or(false)
                {
                    message.flags = flags.clone();
                    message.mod_seq = index.get(entry.uid).map_or(message.mod_seq, |m| m.mod_seq);
                    seen_changed = true;
                    flags_item = true;
                    if let Some(sel) = self.selected.as_mut() {
                        sel.own.insert(entry.uid, message.mod_seq);
                    }
                }
            }
            let mut loaded = Loaded { path, crlf: None };
            let mut parts: Vec<u8> = Vec::new();
            let mut first = true;
            self.out.extend(format!("* {} FETCH (", pos + 1).as_bytes());
            let mut sep = |parts: &mut Vec<u8>| {
                if !first {
                    parts.push(b' ');
                }
                first = false;
            };
            if uid || items.contains(&FetchAttr::Uid) {
                sep(&mut parts);
                parts.extend_from_slice(format!("UID {}", message.uid).as_bytes());
            }
            if flags_item {
                sep(&mut parts);
                parts.extend_from_slice(b"FLAGS ");
                write_flags(
                    &mut parts,
                    &imap_flags(&message.flags, &keywords, entry.recent && !rev2),
                );
            }
            if condstore
                && (flags_item || changed_since.is_some() || items.contains(&FetchAttr::ModSeq))
            {
                sep(&mut parts);
                parts.extend_from_slice(format!("MODSEQ ({})", message.mod_seq).as_bytes());
            }
            for item in items {
                match item {
                    FetchAttr::Uid | FetchAttr::Flags | FetchAttr::ModSeq => {}
                    FetchAttr::InternalDate => {
                        sep(&mut parts);
                        parts.extend_from_slice(b"INTERNALDATE ");
                        parts.extend_from_slice(internal_date(message.internal_date).as_bytes());
                    }
                    FetchAttr::Rfc822Size => {
                        sep(&mut parts);
                        let size = match message.vsize {
                            Some(v) => v,
                            None => loaded.crlf().map_or(message.size, |c| c.len() as u64),
                        };
                        parts.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
                    }
                    FetchAttr::Envelope | FetchAttr::BodyStructure | FetchAttr::Body => {
                        let Some(structure) =
                            self.structure(&open, &message, &mut loaded, &mut cache_dirty)
                        else {
                            continue;
                        };
                        sep(&mut parts);
                        let (name, value) = match item {
                            FetchAttr::Envelope => ("ENVELOPE ", &structure.envelope),
                            FetchAttr::BodyStructure => {
                                ("BODYSTRUCTURE ", &structure.body_structure)
                            }
                            _ => ("BODY ", &structure.body),
                        };
                        parts.extend_from_slice(name.as_bytes());
                        parts.extend_from_slice(value);
                    }
                    FetchAttr::Rfc822 => {
                        sep(&mut parts);
                        parts.extend_from_slice(b"RFC822 ");
                        self.whole(&mut parts, &mut loaded, &message, None);
                    }
                    FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                        sep(&mut parts);
                        let (name, kind) = if *item == FetchAttr::Rfc822Header {
                            ("RFC822.HEADER ", SectionKind::Header)
                        } else {
                            ("RFC822.TEXT ", SectionKind::Text)
                        };
                        parts.extend_from_slice(name.as_bytes());
                        let data = loaded.crlf().ok().and_then(|raw| {
                            MessageView::parse(raw)
                                .section(&[], kind)
                                .map(|c| c.into_owned())
                        });
                        write_literal(&mut parts, data.as_deref());
                    }
                    FetchAttr::BodySection {
                        section, partial, ..
                    } => {
                        sep(&mut parts);
                        parts.extend_from_slice(b"BODY[");
                        write_section_spec(&mut parts, section);
                        parts.push(b']');
                        if let Some((origin, _)) = partial {
                            parts.extend_from_slice(format!("<{origin}>").as_bytes());
                        }
                        parts.push(b' ');
                        if section.part.is_empty() && section.text.is_none() {
                            self.whole(&mut parts, &mut loaded, &message, *partial);
                            continue;
                        }
                        let data = loaded.crlf().ok().and_then(|raw| {
                            let view = MessageView::parse(raw);
                            let kind = section_kind(section.text.as_ref());
                            view.section(&section.part, kind).map(|c| c.into_owned())
                        });
                        let data = data.map(|d| apply_partial(d, *partial));
                        write_literal(&mut parts, data.as_deref());
                    }
                    FetchAttr::Binary { part, partial, .. } => {
                        sep(&mut parts);
                        let decoded = loaded.crlf().ok().map(|raw| {
                            MessageView::parse(raw)
                                .binary(part)
                                .map(|o| o.map(|c| c.into_owned()))
                        });
                        match decoded {
                            Some(Err(_)) => {
                                drop(parts);
                                self.out.extend(b")\r\n");
                                tagged(
                                    self.out.bytes(),
                                    tag,
                                    Status::No,
                                    Some(&Code::Other("UNKNOWN-CTE".into())),
                                    "Unknown Content-Transfer-Encoding.",
                                );
                                return Next::Continue;
                            }
                            Some(Ok(data)) => {
                                parts.extend_from_slice(b"BINARY[");
                                parts.extend_from_slice(part_spec(part).as_bytes());
                                parts.push(b']');
                                if let Some((origin, _)) = partial {
                                    parts.extend_from_slice(format!("<{origin}>").as_bytes());
                                }
                                parts.push(b' ');
                                let data = data.map(|d| apply_partial(d, *partial));
                                match data {
                                    Some(d) if d.contains(&0) => {
                                        parts.extend_from_slice(
                                            format!("~{{{}}}\r\n", d.len()).as_bytes(),
                                        );
                                        parts.extend_from_slice(&d);
                                    }
                                    other => write_literal(&mut parts, other.as_deref()),
                                }
                            }
                            None => parts.extend_from_slice(b"BINARY[] NIL"),
                        }
                    }
                    FetchAttr::BinarySize { part } => {
                        sep(&mut parts);
                        let size = loaded.crlf().ok().and_then(|raw| {
                            MessageView::parse(raw)
                                .binary(part)
                                .ok()
                                .flatten()
                                .map(|d| d.len())
                        });
                        parts.extend_from_slice(
                            format!("BINARY.SIZE[{}] ", part_spec(part)).as_bytes(),
                        );
                        match size {
                            Some(n) => parts.extend_from_slice(n.to_string().as_bytes()),
                            None => parts.extend_from_slice(b"NIL"),
                        }
                    }
                }
            }
            self.out.extend(&parts);
            self.out.extend(b")\r\n");
        }
        if cache_dirty
            && let Ok(mut cache) = open.cache.lock()
            && let Err(e) = cache.save()
        {
            warn!(session = %self.id, error = %e, "cannot save the folder cache");
        }
        if seen_changed {
            open.notify();
        }
        self.refresh(uid);
        self.ok(tag, "FETCH completed.");
        Next::Continue
    }

    /// ENVELOPE/BODYSTRUCTURE/BODY from the cache, computed and cached on a miss.
    fn structure(
        &self,
        open: &super::hub::OpenFolder,
        message: &IndexedMessage,
        loaded: &mut Loaded,
        dirty: &mut bool,
    ) -> Option<Structure> {
        if let Ok(cache) = open.cache.lock()
            && let Some(structure) = cache.get(message.uid).and_then(Structure::decode)
        {
            return Some(structure);
        }
        let raw = match loaded.crlf() {
            Ok(raw) => raw,
            Err(e) => {
                warn!(session = %self.id, uid = message.uid, error = %e, "cannot read a message");
                return None;
            }
        };
        let structure = Structure::compute(raw);
        if let Ok(mut cache) = open.cache.lock() {
            cache.insert(message.uid, structure.encode());
            *dirty = true;
        }
        Some(structure)
    }

    /// The whole message as a literal, streamed from the file.
    fn whole(
        &mut self,
        parts: &mut Vec<u8>,
        loaded: &mut Loaded,
        message: &IndexedMessage,
        partial: Option<(u32, u32)>,
    ) {
        let size = match message.vsize {
            Some(v) => v,
            None => loaded.crlf().map_or(0, |c| c.len() as u64),
        };
        let (skip, len) = match partial {
            Some((origin, count)) => {
                let origin = u64::from(origin).min(size);
                (origin, u64::from(count).min(size - origin))
            }
            None => (0, size),
        };
        parts.extend_from_slice(format!("{{{len}}}\r\n").as_bytes());
        match File::open(&loaded.path) {
            Ok(file) => {
                self.out.extend(parts);
                parts.clear();
                self.out.file(file, skip, len);
            }
            Err(_) => parts.extend(std::iter::repeat_n(b' ', usize::try_from(len).unwrap_or(0))),
        }
    }
}

fn section_kind(text: Option<&SectionText>) -> SectionKind<'_> {
    match text {
        None => SectionKind::Full,
        Some(SectionText::Header) => SectionKind::Header,
        Some(SectionText::HeaderFields(names)) => SectionKind::HeaderFields(names),
        Some(SectionText::HeaderFieldsNot(names)) => SectionKind::HeaderFieldsNot(names),
        Some(SectionText::Text) => SectionKind::Text,
        Some(SectionText::Mime) => SectionKind::Mime,
    }
}

fn part_spec(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn write_section_spec(out: &mut Vec<u8>, section: &Section) {
    out.extend_from_slice(part_spec(&section.part).as_bytes());
    let Some(text) = &section.text else { return };
    if !section.part.is_empty() {
        out.push(b'.');
    }
    let (name, fields) = match text {
        SectionText::Header => ("HEADER", None),
        SectionText::HeaderFields(f) => ("HEADER.FIELDS", Some(f)),
        SectionText::HeaderFieldsNot(f) => ("HEADER.FIELDS.NOT", Some(f)),
        SectionText::Text => ("TEXT", None),
        SectionText::Mime => ("MIME", None),
    };
    out.extend_from_slice(name.as_bytes());
    if let Some(fields) = fields {
        out.extend_from_slice(b" (");
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            imap::response::write_astring(out, field.to_ascii_uppercase());
        }
        out.push(b')');
    }
}

fn apply_partial(data: Vec<u8>, partial: Option<(u32, u32)>) -> Vec<u8> {
    match partial {
        None => data,
        Some((origin, count)) => {
            let start = (origin as usize).min(data.len());
            let end = start.saturating_add(count as usize).min(data.len());
            data.get(start..end).unwrap_or_default().to_vec()
        }
    }
}

/// A literal, or NIL for a section that does not exist.
fn write_literal(out: &mut Vec<u8>, data: Option<&[u8]>) {
    match data {
        Some(d) => {
            out.extend_from_slice(format!("{{{}}}\r\n", d.len()).as_bytes());
            out.extend_from_slice(d);
        }
        None => out.extend_from_slice(b"NIL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_blob_round_trips_and_rejects_garbage() {
        let s = Structure {
            envelope: b"(NIL)".to_vec(),
            body_structure: b"(\"text\")".to_vec(),
            body: b"x".to_vec(),
        };
        let back = Structure::decode(&s.encode()).unwrap();
        assert_eq!(back.envelope, s.envelope);
        assert_eq!(back.body, s.body);
        assert!(Structure::decode(&[9, 0, 0, 0, 1]).is_none());
    }

    #[test]
    fn partial_ranges_clamp() {
        assert_eq!(apply_partial(b"hello".to_vec(), Some((1, 3))), b"ell");
        assert_eq!(apply_partial(b"hello".to_vec(), Some((9, 3))), b"");
        assert_eq!(apply_partial(b"hello".to_vec(), Some((3, u32::MAX))), b"lo");
    }
}
