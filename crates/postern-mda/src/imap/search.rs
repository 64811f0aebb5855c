//! SEARCH (with ESEARCH results), SORT and THREAD. Flag, size, date, UID and modseq keys are
//! answered from the index; header and body keys read and parse the message, once per
//! message per command.

use std::fs::File;

use imap::command::{
    SearchKey, SearchReturn, SequenceSet, SortCriterion, SortKey, ThreadAlgorithm,
};
use imap::response::{Code, Status, tagged};
use imap_message::{MessageView, ThreadInput};
use maildir::IndexedMessage;

use super::dates::day_of;
use super::output::read_crlf;
use super::session::Session;

/// One message under evaluation; its text is loaded on first need.
struct Candidate<'a> {
    seq: u32,
    message: &'a IndexedMessage,
    recent: bool,
    keywords: &'a [String],
    path: Option<std::path::PathBuf>,
    /// The file as stored (LF line ends), then its CRLF form for parsing.
    stored: Option<Vec<u8>>,
    raw: Option<Vec<u8>>,
    /// The stored bytes in ASCII lowercase, for the quick test.
    folded: Option<Vec<u8>>,
    largest_seq: u32,
    largest_uid: u32,
}

impl Candidate<'_> {
    fn stored(&mut self) -> &[u8] {
        if self.stored.is_none() {
            let loaded = self
                .path
                .as_ref()
                .and_then(|p| std::fs::read(p).ok())
                .unwrap_or_default();
            self.stored = Some(loaded);
        }
        self.stored.as_deref().unwrap_or_default()
    }

    fn raw(&mut self) -> &[u8] {
        if self.raw.is_none() {
            let mut crlf = Vec::new();
            super::output::CrlfReader::default().convert(self.stored(), &mut crlf);
            self.raw = Some(crlf);
        }
        self.raw.as_deref().unwrap_or_default()
    }

    /// False when the message certainly does not contain `needle` in any decoded form: the
    /// needle is ASCII, nothing in the message is encoded (no base64, quoted-printable,
    /// encoded words or wide charsets), so decoding could not produce bytes that are not in
    /// the file. Most messages of a SEARCH TEXT are ruled out here without being parsed.
    fn may_contain(&mut self, needle: &str) -> bool {
        if !needle.is_ascii() || needle.is_empty() {
            return true;
        }
        if self.folded.is_none() {
            let folded = self.stored().to_ascii_lowercase();
            self.folded = Some(folded);
        }
        let folded = self.folded.as_deref().unwrap_or_default();
        let encoded = [
            "=?",
            "base64",
            "quoted-printable",
            "utf-16",
            "utf-32",
            "ucs-",
        ]
        .iter()
        .any(|marker| memchr::memmem::find(folded, marker.as_bytes()).is_some());
        encoded || memchr::memmem::find(folded, needle.to_ascii_lowercase().as_bytes()).is_some()
    }

    fn keyword_bit(&self, name: &str) -> Option<u32> {
        self.keywords
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
            .filter(|i| *i < 26)
            .map(|i| 1u32 << i)
    }

    fn matches(&mut self, key: &SearchKey) -> bool {
        let flags = &self.message.flags;
        match key {
            SearchKey::All => true,
            SearchKey::Answered => flags.answered,
            SearchKey::Deleted => flags.deleted,
            SearchKey::Draft => flags.draft,
            SearchKey::Flagged => flags.flagged,
            SearchKey::Seen => flags.seen,
            SearchKey::Recent => self.recent,
            SearchKey::New => self.recent && !flags.seen,
            SearchKey::Old => !self.recent,
            SearchKey::Unanswered => !flags.answered,
            SearchKey::Undeleted => !flags.deleted,
            SearchKey::Undraft => !flags.draft,
            SearchKey::Unflagged => !flags.flagged,
            SearchKey::Unseen => !flags.seen,
            SearchKey::Keyword(k) => self
                .keyword_bit(k)
                .is_some_and(|bit| flags.keywords & bit != 0),
            SearchKey::Unkeyword(k) => self
                .keyword_bit(k)
                .is_none_or(|bit| flags.keywords & bit == 0),
            SearchKey::Larger(n) => self.size() > *n,
            SearchKey::Smaller(n) => self.size() < *n,
            SearchKey::Before(d) => day_of(self.message.internal_date) < d.days_since_epoch(),
            SearchKey::On(d) => day_of(self.message.internal_date) == d.days_since_epoch(),
            SearchKey::Since(d) => day_of(self.message.internal_date) >= d.days_since_epoch(),
            SearchKey::Older(secs) => {
                now() - self.message.internal_date > i64::try_from(*secs).unwrap_or(i64::MAX)
            }
            SearchKey::Younger(secs) => {
                now() - self.message.internal_date <= i64::try_from(*secs).unwrap_or(i64::MAX)
            }
            SearchKey::SentBefore(d) | SearchKey::SentOn(d) | SearchKey::SentSince(d) => {
                let Some((_, (y, m, dd))) = MessageView::parse(self.raw()).sent_date() else {
                    return false;
                };
                let sent = imap::command::Date {
                    year: y,
                    month: m,
                    day: dd,
                }
                .days_since_epoch();
                let day = d.days_since_epoch();
                match key {
                    SearchKey::SentBefore(_) => sent < day,
                    SearchKey::SentOn(_) => sent == day,
                    _ => sent >= day,
                }
            }
            SearchKey::Uid(set) => set.contains(self.message.uid, self.largest_uid),
            SearchKey::Sequence(set) => set.contains(self.seq, self.largest_seq),
            SearchKey::ModSeq(m) => self.message.mod_seq >= *m,
            SearchKey::Bcc(s) => self.header("Bcc", s),
            SearchKey::Cc(s) => self.header("Cc", s),
            SearchKey::From(s) => self.header("From", s),
            SearchKey::To(s) => self.header("To", s),
            SearchKey::Subject(s) => self.header("Subject", s),
            SearchKey::Header(name, s) => self.header(name, s),
            SearchKey::Body(s) => {
                self.may_contain(s) && MessageView::parse(self.raw()).body_contains(s)
            }
            SearchKey::Text(s) => {
                self.may_contain(s) && MessageView::parse(self.raw()).text_contains(s)
            }
            SearchKey::Not(inner) => !self.matches(inner),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.matches(k)),
        }
    }

    fn header(&mut self, name: &str, needle: &str) -> bool {
        self.may_contain(needle) && MessageView::parse(self.raw()).header_contains(name, needle)
    }

    fn size(&mut self) -> u64 {
        match self.message.vsize {
            Some(v) => v,
            None => self.raw().len() as u64,
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// A match: (sequence number, UID, modseq).
type Hit = (u32, u32, u64);

impl Session {
    fn charset_ok(&mut self, tag: &str, charset: Option<&str>) -> bool {
        match charset {
            None => true,
            Some(c) if c.eq_ignore_ascii_case("UTF-8") || c.eq_ignore_ascii_case("US-ASCII") => {
                true
            }
            Some(_) => {
                let code = Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]);
                tagged(
                    self.out.bytes(),
                    tag,
                    Status::No,
                    Some(&code),
                    "Unsupported charset.",
                );
                false
            }
        }
    }

    /// Every message of the view that matches, in sequence order.
    fn evaluate(&mut self, criteria: &SearchKey) -> Vec<Hit> {
        let Some(sel) = self.selected.as_ref() else {
            return Vec::new();
        };
        let open = sel.open.clone();
        let Ok(index) = open.index.lock() else {
            return Vec::new();
        };
        // The index is locked while messages are read; snapshots would double the memory of a
        // 100,000-message folder, and other sessions only wait for this one command.
        let keywords = index.keyword_names().to_vec();
        let largest_seq = u32::try_from(sel.view.len()).unwrap_or(u32::MAX);
        let largest_uid = sel.largest_uid();
        let mut hits = Vec::new();
        for (i, entry) in sel.view.iter().enumerate() {
            let Some(message) = index.get(entry.uid) else {
                continue;
            };
            let mut candidate = Candidate {
                seq: u32::try_from(i + 1).unwrap_or(u32::MAX),
                message,
                recent: entry.recent,
                keywords: &keywords,
                path: index.path_of(entry.uid),
                stored: None,
                raw: None,
                folded: None,
                largest_seq,
                largest_uid,
            };
            if candidate.matches(criteria) {
                hits.push((candidate.seq, message.uid, message.mod_seq));
            }
        }
        hits
    }

    pub fn search(
        &mut self,
        tag: &str,
        uid: bool,
        charset: Option<&str>,
        criteria: &SearchKey,
        ret: Option<&[SearchReturn]>,
    ) {
        if !self.charset_ok(tag, charset) {
            return;
        }
        let modseq = uses_modseq(criteria);
        if modseq {
            self.enabled.condstore = true;
        }
        let hits = self.evaluate(criteria);
        let ids: Vec<u32> = hits.iter().map(|h| if uid { h.1 } else { h.0 }).collect();
        let highest = hits.iter().map(|h| h.2).max();
        // IMAP4rev2 answers every SEARCH with ESEARCH.
        let ret = match ret {
            Some(r) => Some(r.to_vec()),
            None if self.enabled.rev2 => Some(vec![SearchReturn::All]),
            None => None,
        };
        let mut line = Vec::new();
        match ret {
            None => {
                line.extend_from_slice(b"* SEARCH");
                for id in &ids {
                    line.extend_from_slice(format!(" {id}").as_bytes());
                }
                if modseq && let Some(h) = highest {
                    line.extend_from_slice(format!(" (MODSEQ {h})").as_bytes());
                }
            }
            Some(ret) => {
                let ret = if ret.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    ret
                };
                write_esearch(&mut line, tag, uid, &ret, &ids, false);
                if modseq && let Some(h) = highest {
                    line.extend_from_slice(format!(" MODSEQ {h}").as_bytes());
                }
            }
        }
        line.extend_from_slice(b"\r\n");
        self.out.extend(&line);
        self.refresh(uid);
        self.ok(tag, "SEARCH completed.");
    }

    pub fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        keys: &[SortKey],
        charset: &str,
        criteria: &SearchKey,
        ret: Option<&[SearchReturn]>,
    ) {
        if !self.charset_ok(tag, Some(charset)) {
            return;
        }
        let hits = self.evaluate(criteria);
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let open = sel.open.clone();
        let mut rows: Vec<(Vec<SortValue>, u32)> = Vec::with_capacity(hits.len());
        let needs_text = keys
            .iter()
            .any(|k| !matches!(k.criterion, SortCriterion::Arrival | SortCriterion::Size));
        for (seq, message_uid, _) in &hits {
            let Some((message, raw)) = load_hit(&open, *message_uid, needs_text) else {
                continue;
            };
            let fields = needs_text.then(|| MessageView::parse(&raw).sort_fields());
            let mut values = Vec::new();
            for key in keys {
                let value = match (&key.criterion, &fields) {
                    (SortCriterion::Arrival, _) => SortValue::Number(message.internal_date),
                    (SortCriterion::Size, _) => SortValue::Number(
                        i64::try_from(message.vsize.unwrap_or(message.size)).unwrap_or(i64::MAX),
                    ),
                    (SortCriterion::Date, Some(f)) => {
                        SortValue::Number(f.sent_date.unwrap_or(message.internal_date))
                    }
                    (SortCriterion::Subject, Some(f)) => SortValue::Text(f.base_subject.clone()),
                    (SortCriterion::From, Some(f)) => SortValue::Text(f.from.clone()),
                    (SortCriterion::To, Some(f)) => SortValue::Text(f.to.clone()),
                    (SortCriterion::Cc, Some(f)) => SortValue::Text(f.cc.clone()),
                    (SortCriterion::DisplayFrom, Some(f)) => {
                        SortValue::Text(f.display_from.to_lowercase())
                    }
                    (SortCriterion::DisplayTo, Some(f)) => {
                        SortValue::Text(f.display_to.to_lowercase())
                    }
                    (_, None) => SortValue::Number(0),
                };
                values.push(if key.reverse { value.reversed() } else { value });
            }
            rows.push((values, if uid { *message_uid } else { *seq }));
        }
        // Ties keep sequence order (RFC 5256): the sort is stable over rows in that order.
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let ids: Vec<u32> = rows.iter().map(|r| r.1).collect();
        let mut line = Vec::new();
        match ret {
            Some(ret) => write_esearch(&mut line, tag, uid, ret, &ids, true),
            None => {
                line.extend_from_slice(b"* SORT");
                for id in &ids {
                    line.extend_from_slice(format!(" {id}").as_bytes());
                }
            }
        }
        line.extend_from_slice(b"\r\n");
        self.out.extend(&line);
        self.refresh(uid);
        self.ok(tag, "SORT completed.");
    }

    pub fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: &str,
        criteria: &SearchKey,
    ) {
        if !self.charset_ok(tag, Some(charset)) {
            return;
        }
        let hits = self.evaluate(criteria);
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let open = sel.open.clone();
        let mut inputs = Vec::with_capacity(hits.len());
        let mut replies = Vec::with_capacity(hits.len());
        for (seq, message_uid, _) in &hits {
            let Some((message, raw)) = load_hit(&open, *message_uid, true) else {
                continue;
            };
            let view = MessageView::parse(&raw);
            let fields = view.sort_fields();
            replies.push(fields.subject_is_reply);
            inputs.push(ThreadInput {
                id: if uid { *message_uid } else { *seq },
                ids: view.thread_ids(),
                date: fields.sent_date.unwrap_or(message.internal_date),
                base_subject: fields.base_subject,
            });
        }
        let threads = match algorithm {
            ThreadAlgorithm::References => {
                imap_message::thread_references_replies(&inputs, &replies)
            }
            ThreadAlgorithm::OrderedSubject => imap_message::thread_ordered_subject(&inputs),
        };
        self.out
            .extend(format!("* THREAD {threads}\r\n").as_bytes());
        self.refresh(uid);
        self.ok(tag, "THREAD completed.");
    }
}

/// A matched message's index entry and, when `text` is asked for, its CRLF text (empty when
/// the file cannot be read); `None` once it is expunged.
fn load_hit(
    open: &super::hub::OpenFolder,
    uid: u32,
    text: bool,
) -> Option<(IndexedMessage, Vec<u8>)> {
    let (path, message) = {
        let index = open.index.lock().ok()?;
        (index.path_of(uid), index.get(uid).cloned()?)
    };
    let raw = if text {
        path.and_then(|p| File::open(p).ok())
            .and_then(|mut f| read_crlf(&mut f).ok())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Some((message, raw))
}

/// `* ESEARCH (TAG "t") [UID] MIN .. MAX .. COUNT .. ALL ..` without the line end. `ids` are
/// in result order; `ordered` (ESORT) lists them in that order rather than as a set.
fn write_esearch(
    line: &mut Vec<u8>,
    tag: &str,
    uid: bool,
    ret: &[SearchReturn],
    ids: &[u32],
    ordered: bool,
) {
    line.extend_from_slice(b"* ESEARCH (TAG ");
    imap::response::write_string(&mut *line, tag.as_bytes());
    line.push(b')');
    if uid {
        line.extend_from_slice(b" UID");
    }
    for r in ret {
        let item = match r {
            SearchReturn::Min => ids.first().map(|v| format!(" MIN {v}")),
            SearchReturn::Max => ids.last().map(|v| format!(" MAX {v}")),
            SearchReturn::Count => Some(format!(" COUNT {}", ids.len())),
            SearchReturn::All if ids.is_empty() => None,
            SearchReturn::All if ordered => {
                let text: Vec<String> = ids.iter().map(u32::to_string).collect();
                Some(format!(" ALL {}", text.join(",")))
            }
            SearchReturn::All => {
                let mut sorted = ids.to_vec();
                sorted.sort_unstable();
                Some(format!(" ALL {}", SequenceSet::from_values(&sorted)))
            }
            SearchReturn::Save => None,
        };
        if let Some(item) = item {
            line.extend_from_slice(item.as_bytes());
        }
    }
}

/// A sort key's value; `Reverse*` flip the order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(i64),
    Text(String),
    ReverseNumber(std::cmp::Reverse<i64>),
    ReverseText(std::cmp::Reverse<String>),
}

impl SortValue {
    fn reversed(self) -> SortValue {
        match self {
            SortValue::Number(n) => SortValue::ReverseNumber(std::cmp::Reverse(n)),
            SortValue::Text(t) => SortValue::ReverseText(std::cmp::Reverse(t)),
            other => other,
        }
    }
}
