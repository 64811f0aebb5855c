//! Cutting the client's byte stream into commands: lines, literals and the caller's decision
//! on each literal, under limits that bound memory whatever the client sends.
//!
//! A command is one or more lines; every line but the last ends in a literal announcement
//! (`{n}`, `{n+}`, `~{n}`), and the literal's bytes follow the line end. The framer stops at
//! each announcement so that the server can answer a synchronizing literal with `+` (or refuse
//! it) before the client sends it, and can stream a large APPEND message instead of holding it.
//!
//! Lines end in CRLF; a bare LF is accepted too (some clients send it), a bare CR never ends a
//! line. In [`Frame::Command`] and [`Frame::LiteralAnnounced`] every line end is written as CRLF.

/// Size limits of the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One line, without its line end and without literals. Default 64 KiB.
    pub max_line: usize,
    /// A literal that is buffered into the command ([`CommandFramer::accept_literal`]).
    /// Streamed literals are not limited by the framer. Default 64 KiB.
    pub max_literal: u64,
    /// A whole buffered command, lines and literals. Default 1 MiB.
    pub max_command: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_command: 1024 * 1024,
        }
    }
}

/// One unit of framed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete command: every line and buffered literal, as sent, ending in CRLF.
    Command(Vec<u8>),
    /// The command so far (including the `{n}`/`{n+}`/`~{n}` and its CRLF) ends in a literal
    /// announcement. The caller must call [`accept_literal`](CommandFramer::accept_literal),
    /// [`stream_literal`](CommandFramer::stream_literal) or
    /// [`reject_literal`](CommandFramer::reject_literal) before the next
    /// [`next`](CommandFramer::next). For a synchronizing literal the caller sends `+ ...` when
    /// it accepts or streams, or a tagged NO/BAD when it rejects (the client then sends nothing
    /// more of this command). For a non-synchronizing one (`{n+}`), rejecting makes the framer
    /// silently discard the n bytes and the rest of the command, including any further
    /// literals it announces.
    LiteralAnnounced {
        /// The unit so far, up to and including the announcement's CRLF.
        prefix: Vec<u8>,
        /// The announced length.
        size: u64,
        /// `{n}`: the client waits for a continuation request.
        sync: bool,
        /// `~{n}` (RFC 3516 literal8).
        binary: bool,
    },
    /// Streamed literal bytes (after `stream_literal`), in order; chunks of any size.
    LiteralChunk(Vec<u8>),
    /// The streamed literal is complete. What follows up to the next line end (possibly with
    /// more literals) is framed as a new unit: `Command(rest)` or
    /// `LiteralAnnounced { prefix: rest, .. }`.
    LiteralEnd,
    /// A line longer than `max_line`, or a command over `max_command`: the framer discarded it
    /// up to the end of its line and skips the rest of that command. `tag` if one could be read.
    TooLong {
        /// The command's tag, for a tagged BAD.
        tag: Option<String>,
    },
    /// A literal announcement that is not a number or overflows u64: the command was dropped.
    BadLiteral {
        /// The command's tag, for a tagged BAD.
        tag: Option<String>,
    },
}

/// How many bytes at the end of a skipped line are kept to see whether it announces a literal
/// (`~{` + 20 digits + `+}` fits).
const TAIL: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line into the unit.
    Line,
    /// A literal was announced; waiting for the caller's decision.
    Decide { size: u64, sync: bool },
    /// Copying an accepted literal into the unit.
    Buffer { remaining: u64 },
    /// Handing out a streamed literal.
    Stream { remaining: u64 },
    /// Dropping the bytes of a refused literal; the rest of its command is skipped after it.
    SkipLiteral { remaining: u64 },
    /// Dropping a line up to its end. `report`: emit `TooLong` when the end is reached.
    SkipLine { report: bool },
}

/// Splits received bytes into [`Frame`]s. Sans-I/O: [`push`](Self::push) what the socket
/// returned, then call [`next`](Self::next) until it returns `None`.
#[derive(Debug)]
pub struct CommandFramer {
    limits: Limits,
    /// Received bytes; those before `pos` are already framed.
    input: Vec<u8>,
    pos: usize,
    /// The unit being assembled.
    unit: Vec<u8>,
    /// Where the current line starts in `unit`; bytes before it are earlier lines and literals.
    line_start: usize,
    /// The last bytes of a line being skipped.
    tail: Vec<u8>,
    /// The tag of the command being framed, once the unit no longer starts with it (after a
    /// streamed literal) or once the line holding it was dropped.
    tag: Option<String>,
    /// The unit continues a command after a streamed literal.
    continuation: bool,
    state: State,
    /// A frame decided outside `next` (a literal that does not fit), returned by `next` first.
    pending: Option<Frame>,
}

impl CommandFramer {
    /// A framer with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            input: Vec::new(),
            pos: 0,
            unit: Vec::new(),
            line_start: 0,
            tail: Vec::new(),
            tag: None,
            continuation: false,
            state: State::Line,
            pending: None,
        }
    }

    /// The limits this framer enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.input.drain(..self.pos.min(self.input.len()));
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// The next frame, or `None` when more bytes are needed. Not an iterator: `None` only means
    /// "not yet". Calling it while a literal decision is outstanding counts as
    /// [`reject_literal`](Self::reject_literal).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Frame> {
        if let Some(frame) = self.pending.take() {
            return Some(frame);
        }
        if let State::Decide { .. } = self.state {
            self.reject_literal();
        }
        loop {
            let frame = match self.state {
                State::Line => self.line(),
                State::Decide { .. } => return None,
                State::Buffer { remaining } => {
                    let range = self.take_input(remaining);
                    let taken = range.len();
                    self.unit
                        .extend_from_slice(self.input.get(range).unwrap_or_default());
                    if taken == 0 && remaining > 0 {
                        return None;
                    }
                    let remaining = remaining.saturating_sub(taken as u64);
                    self.state = if remaining == 0 {
                        self.line_start = self.unit.len();
                        State::Line
                    } else {
                        State::Buffer { remaining }
                    };
                    Step::Continue
                }
                State::Stream { remaining } => {
                    if remaining == 0 {
                        self.unit.clear();
                        self.line_start = 0;
                        self.continuation = true;
                        self.state = State::Line;
                        return Some(Frame::LiteralEnd);
                    }
                    let range = self.take_input(remaining);
                    let chunk = self.input.get(range).unwrap_or_default().to_vec();
                    if chunk.is_empty() {
                        return None;
                    }
                    self.state = State::Stream {
                        remaining: remaining.saturating_sub(chunk.len() as u64),
                    };
                    return Some(Frame::LiteralChunk(chunk));
                }
                State::SkipLiteral { remaining } => {
                    let taken = self.take_input(remaining).len();
                    if taken == 0 && remaining > 0 {
                        return None;
                    }
                    let remaining = remaining.saturating_sub(taken as u64);
                    self.state = if remaining == 0 {
                        self.tail.clear();
                        State::SkipLine { report: false }
                    } else {
                        State::SkipLiteral { remaining }
                    };
                    Step::Continue
                }
                State::SkipLine { report } => self.skip_line(report),
            };
            match frame {
                Step::Frame(frame) => return Some(frame),
                Step::NeedMore => return None,
                Step::Continue => {}
            }
        }
    }

    /// After [`Frame::LiteralAnnounced`]: the literal's bytes become part of the command. A
    /// literal over `max_literal`, or one that would make the command exceed `max_command`, is
    /// not buffered: the next frame is [`Frame::TooLong`] and the literal's bytes and the rest of
    /// the command are discarded as they arrive (the framer assumes the client was sent `+`;
    /// check [`fits`](Self::fits) first to refuse a synchronizing literal instead).
    pub fn accept_literal(&mut self) {
        let State::Decide { size, .. } = self.state else {
            return;
        };
        if self.fits(size) {
            self.state = State::Buffer { remaining: size };
        } else {
            let tag = self.current_tag();
            self.reset_unit();
            self.pending = Some(Frame::TooLong { tag });
            self.state = State::SkipLiteral { remaining: size };
        }
    }

    /// After [`Frame::LiteralAnnounced`]: the literal's bytes are handed out as
    /// [`Frame::LiteralChunk`]s, then [`Frame::LiteralEnd`]; the rest of the command is framed
    /// as a new unit. Streamed literals do not count towards `max_command`.
    pub fn stream_literal(&mut self) {
        let State::Decide { size, .. } = self.state else {
            return;
        };
        self.tag = self.current_tag();
        self.unit.clear();
        self.line_start = 0;
        self.state = State::Stream { remaining: size };
    }

    /// After [`Frame::LiteralAnnounced`]: the command is dropped. A synchronizing literal is
    /// never sent by the client; a non-synchronizing one is skipped, with the rest of its
    /// command.
    pub fn reject_literal(&mut self) {
        let State::Decide { size, sync } = self.state else {
            return;
        };
        self.reset_unit();
        self.state = if sync {
            State::Line
        } else {
            State::SkipLiteral { remaining: size }
        };
    }

    /// Whether a literal of `size` bytes announced now could be buffered under the limits.
    pub fn fits(&self, size: u64) -> bool {
        let total = (self.unit.len() as u64).saturating_add(size);
        size <= self.limits.max_literal && total <= self.limits.max_command as u64
    }

    /// Bytes held by the framer: received and not yet framed, plus the unit being assembled.
    pub fn buffered(&self) -> usize {
        self.input.len().saturating_sub(self.pos) + self.unit.len()
    }

    /// The received bytes not yet framed, including a partial line, and a reset framer. Used
    /// when the byte stream changes meaning (STARTTLS, COMPRESS): there it must be empty.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        if self.state == State::Line {
            rest.append(&mut self.unit);
        }
        rest.extend_from_slice(self.input.get(self.pos..).unwrap_or_default());
        self.input.clear();
        self.pos = 0;
        self.reset_unit();
        self.state = State::Line;
        self.pending = None;
        rest
    }

    /// Takes up to `limit` unframed bytes: where they are in `input`.
    fn take_input(&mut self, limit: u64) -> std::ops::Range<usize> {
        let available = self.input.len().saturating_sub(self.pos);
        let count = usize::try_from(limit).map_or(available, |limit| limit.min(available));
        let start = self.pos;
        self.pos += count;
        start..self.pos
    }

    /// Forgets the unit and the command it belongs to.
    fn reset_unit(&mut self) {
        self.unit.clear();
        self.line_start = 0;
        self.tag = None;
        self.continuation = false;
        self.tail.clear();
    }

    fn current_tag(&self) -> Option<String> {
        self.tag_with(&[])
    }

    /// The command's tag, when the unit so far followed by `more` starts with it.
    fn tag_with(&self, more: &[u8]) -> Option<String> {
        if self.continuation || self.tag.is_some() {
            return self.tag.clone();
        }
        // Longer tags are not reported; this keeps the copy small.
        const MAX_TAG: usize = 1024;
        let mut start: Vec<u8> = self.unit.iter().take(MAX_TAG + 1).copied().collect();
        let room = MAX_TAG + 1 - start.len();
        start.extend(more.iter().take(room));
        tag_of(&start)
    }

    /// Reads the current line; frames the unit when the line is complete.
    fn line(&mut self) -> Step {
        let available = self.input.get(self.pos..).unwrap_or_default();
        if available.is_empty() {
            return Step::NeedMore;
        }
        let line_len = self.unit.len() - self.line_start;
        let Some(newline) = available.iter().position(|&b| b == b'\n') else {
            // A CR may still turn out to be the line end's, hence the +1.
            if line_len + available.len() > self.limits.max_line.saturating_add(1)
                || self.unit.len() + available.len() > self.limits.max_command.saturating_add(1)
            {
                let last = last_bytes(
                    self.unit.get(self.line_start..).unwrap_or_default(),
                    available,
                );
                self.tag = self.tag_with(available);
                self.keep_tail(&last);
                self.unit.clear();
                self.line_start = 0;
                self.pos = self.input.len();
                self.state = State::SkipLine { report: true };
                return Step::Continue;
            }
            self.unit.extend_from_slice(available);
            self.pos = self.input.len();
            return Step::NeedMore;
        };
        let segment = available.get(..newline).unwrap_or_default();
        let ends_in_cr = match segment.last() {
            Some(&last) => last == b'\r',
            None => line_len > 0 && self.unit.last() == Some(&b'\r'),
        };
        let content_len = line_len + newline - usize::from(ends_in_cr);
        let unit_len = self.unit.len() + newline - usize::from(ends_in_cr) + 2;
        if content_len > self.limits.max_line || unit_len > self.limits.max_command {
            let tag = self.tag_with(available);
            let mut content = last_bytes(
                self.unit.get(self.line_start..).unwrap_or_default(),
                segment,
            );
            if ends_in_cr {
                content.pop();
            }
            self.pos += newline + 1;
            self.reset_unit();
            self.state = match announcement(tail(&content)) {
                Announcement::Literal { size, sync: false } => {
                    State::SkipLiteral { remaining: size }
                }
                _ => State::Line,
            };
            return Step::Frame(Frame::TooLong { tag });
        }
        self.unit.extend_from_slice(segment);
        self.pos += newline + 1;
        if ends_in_cr {
            self.unit.pop();
        }
        let content = self.unit.get(self.line_start..).unwrap_or_default();
        let found = announcement(content);
        let binary = binary_announcement(content);
        self.unit.extend_from_slice(b"\r\n");
        match found {
            Announcement::None => {
                let unit = std::mem::take(&mut self.unit);
                self.reset_unit();
                Step::Frame(Frame::Command(unit))
            }
            Announcement::Literal { size, sync } => {
                self.state = State::Decide { size, sync };
                Step::Frame(Frame::LiteralAnnounced {
                    prefix: self.unit.clone(),
                    size,
                    sync,
                    binary,
                })
            }
            Announcement::Bad => {
                let tag = self.current_tag();
                self.reset_unit();
                Step::Frame(Frame::BadLiteral { tag })
            }
        }
    }

    /// Drops bytes up to the end of the line; a dropped line that announces a
    /// non-synchronizing literal takes the literal and the rest of the command with it.
    fn skip_line(&mut self, report: bool) -> Step {
        let available = self.input.get(self.pos..).unwrap_or_default();
        let Some(newline) = available.iter().position(|&b| b == b'\n') else {
            let last = last_bytes(&[], available);
            self.pos = self.input.len();
            self.keep_tail(&last);
            return Step::NeedMore;
        };
        let last = last_bytes(&[], available.get(..newline).unwrap_or_default());
        self.pos += newline + 1;
        self.keep_tail(&last);
        let mut content = std::mem::take(&mut self.tail);
        if content.last() == Some(&b'\r') {
            content.pop();
        }
        let tag = self.tag.take();
        self.reset_unit();
        self.state = match announcement(tail(&content)) {
            Announcement::Literal { size, sync: false } => State::SkipLiteral { remaining: size },
            _ => State::Line,
        };
        if report {
            Step::Frame(Frame::TooLong { tag })
        } else {
            Step::Continue
        }
    }

    /// Remembers the last bytes of a skipped line (one more than [`TAIL`], for a CR).
    fn keep_tail(&mut self, bytes: &[u8]) {
        let bytes = bytes
            .get(bytes.len().saturating_sub(TAIL + 1)..)
            .unwrap_or_default();
        self.tail.extend_from_slice(bytes);
        let excess = self.tail.len().saturating_sub(TAIL + 1);
        if excess > 0 {
            self.tail.drain(..excess);
        }
    }
}

enum Step {
    Frame(Frame),
    NeedMore,
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcement {
    None,
    Literal { size: u64, sync: bool },
    Bad,
}

/// The last `TAIL + 1` bytes of `a` followed by `b`.
fn last_bytes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let from_b = b.len().min(TAIL + 1);
    let from_a = (TAIL + 1 - from_b).min(a.len());
    let mut last = Vec::with_capacity(from_a + from_b);
    last.extend_from_slice(a.get(a.len() - from_a..).unwrap_or_default());
    last.extend_from_slice(b.get(b.len() - from_b..).unwrap_or_default());
    last
}

/// The last `TAIL` bytes of a line.
fn tail(content: &[u8]) -> &[u8] {
    content
        .get(content.len().saturating_sub(TAIL)..)
        .unwrap_or_default()
}

/// Whether a line (without its line end) ends in a literal announcement.
fn announcement(line: &[u8]) -> Announcement {
    let Some(inner) = line.strip_suffix(b"}") else {
        return Announcement::None;
    };
    let Some(open) = inner.iter().rposition(|&b| b == b'{') else {
        return Announcement::None;
    };
    let inner = inner.get(open + 1..).unwrap_or_default();
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(digits) => (digits, false),
        None => (inner, true),
    };
    match parse_u64(digits) {
        Some(size) => Announcement::Literal { size, sync },
        None => Announcement::Bad,
    }
}

/// Whether the announcement at the end of the line is `~{n}`.
fn binary_announcement(line: &[u8]) -> bool {
    let Some(open) = line.iter().rposition(|&b| b == b'{') else {
        return false;
    };
    open > 0 && line.get(open - 1) == Some(&b'~')
}

/// A decimal number of 1 or more digits, `None` on anything else or overflow.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &b| {
        if b.is_ascii_digit() {
            value.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The tag a command starts with, if it is a valid tag (ASTRING-CHARs except `+`) followed by
/// a space or a line end.
pub fn tag_of(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| !is_tag_char(b))?;
    if end == 0 || !matches!(bytes.get(end), Some(b' ' | b'\r' | b'\n')) {
        return None;
    }
    let tag = bytes.get(..end)?;
    std::str::from_utf8(tag).ok().map(str::to_owned)
}

/// ASTRING-CHAR except `+`.
pub(crate) fn is_tag_char(b: u8) -> bool {
    b != b'+' && crate::command::is_astring_char(b)
}
