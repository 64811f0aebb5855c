//! Writing server responses: strings in the form the grammar needs, flag lists, status lines
//! with typed response codes, continuation requests, and a builder for FETCH responses.
//!
//! Everything appends to a `Vec<u8>`; nothing here can produce a malformed line: texts lose
//! their CR and LF, and strings that cannot be quoted become literals.

use base64::Engine as _;

use crate::command::{DateTime, Flag, is_astring_char};

/// Strings longer than this are written as literals even when they could be quoted.
const MAX_QUOTED: usize = 1024;

/// A status response's condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Status {
    Ok,
    No,
    Bad,
    Bye,
    PreAuth,
}

impl Status {
    /// The keyword: `OK`, `NO`, `BAD`, `BYE`, `PREAUTH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
            Status::PreAuth => "PREAUTH",
        }
    }
}

/// A response code, the `[...]` of a status response (RFC 3501, RFC 9051, RFC 5530 and the
/// extensions').
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Code {
    Alert,
    /// The supported charsets; may be empty.
    BadCharset(Vec<String>),
    Capability(Vec<String>),
    Parse,
    PermanentFlags(Vec<String>),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    /// `uids`: a set in compact form ([`SequenceSet::from_values`](crate::command::SequenceSet::from_values)).
    AppendUid {
        uid_validity: u32,
        uids: String,
    },
    CopyUid {
        uid_validity: u32,
        source: String,
        dest: String,
    },
    HighestModSeq(u64),
    NoModSeq,
    /// The set of messages that failed UNCHANGEDSINCE.
    Modified(String),
    Closed,
    AuthenticationFailed,
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    ContactAdmin,
    NoPerm,
    InUse,
    ExpungeIssued,
    Corruption,
    ServerBug,
    ClientBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    Unavailable,
    TooBig,
    UidNotSticky,
    UseAttr,
    HasChildren,
    CompressionActive,
    /// Written as given (without `]`, CR or LF).
    Other(String),
}

/// Appends `bytes` with every CR, LF and NUL removed.
fn push_text(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().filter(|&&b| !matches!(b, b'\r' | b'\n' | 0)));
}

/// Appends text inside a response code: also without `]`.
fn push_code_text(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.bytes()
            .filter(|&b| !matches!(b, b'\r' | b'\n' | 0 | b']')),
    );
}

fn push_list(out: &mut Vec<u8>, items: &[String]) {
    out.push(b'(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_code_text(out, item);
    }
    out.push(b')');
}

impl Code {
    /// Appends the code without its brackets.
    pub fn write(&self, out: &mut Vec<u8>) {
        let simple = match self {
            Code::Alert => "ALERT",
            Code::Parse => "PARSE",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::TryCreate => "TRYCREATE",
            Code::NoModSeq => "NOMODSEQ",
            Code::Closed => "CLOSED",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Code::Expired => "EXPIRED",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ContactAdmin => "CONTACTADMIN",
            Code::NoPerm => "NOPERM",
            Code::InUse => "INUSE",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::Corruption => "CORRUPTION",
            Code::ServerBug => "SERVERBUG",
            Code::ClientBug => "CLIENTBUG",
            Code::Cannot => "CANNOT",
            Code::Limit => "LIMIT",
            Code::OverQuota => "OVERQUOTA",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::NonExistent => "NONEXISTENT",
            Code::Unavailable => "UNAVAILABLE",
            Code::TooBig => "TOOBIG",
            Code::UidNotSticky => "UIDNOTSTICKY",
            Code::UseAttr => "USEATTR",
            Code::HasChildren => "HASCHILDREN",
            Code::CompressionActive => "COMPRESSIONACTIVE",
            _ => "",
        };
        if !simple.is_empty() {
            out.extend_from_slice(simple.as_bytes());
            return;
        }
        let text = match self {
            Code::BadCharset(charsets) if charsets.is_empty() => "BADCHARSET".to_owned(),
            Code::BadCharset(charsets) => {
                out.extend_from_slice(b"BADCHARSET (");
                for (i, charset) in charsets.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    write_astring(out, charset);
                }
                out.push(b')');
                return;
            }
            Code::Capability(capabilities) => {
                out.extend_from_slice(b"CAPABILITY");
                for capability in capabilities {
                    out.push(b' ');
                    push_code_text(out, capability);
                }
                return;
            }
            Code::PermanentFlags(flags) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                push_list(out, flags);
                return;
            }
            Code::UidNext(n) => format!("UIDNEXT {n}"),
            Code::UidValidity(n) => format!("UIDVALIDITY {n}"),
            Code::Unseen(n) => format!("UNSEEN {n}"),
            Code::AppendUid { uid_validity, uids } => format!("APPENDUID {uid_validity} {uids}"),
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => format!("COPYUID {uid_validity} {source} {dest}"),
            Code::HighestModSeq(n) => format!("HIGHESTMODSEQ {n}"),
            Code::Modified(set) => format!("MODIFIED {set}"),
            Code::Other(text) => text.clone(),
            _ => String::new(),
        };
        push_code_text(out, &text);
    }
}

fn status_line(out: &mut Vec<u8>, status: Status, code: Option<&Code>, text: &str) {
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        code.write(out);
        out.extend_from_slice(b"] ");
    }
    let start = out.len();
    push_text(out, text.as_bytes());
    if out.len() == start {
        // resp-text needs some text in IMAP4rev1.
        let default = match status {
            Status::Ok => "done",
            Status::No => "failed",
            Status::Bad => "invalid",
            Status::Bye => "logging out",
            Status::PreAuth => "ready",
        };
        out.extend_from_slice(default.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `tag OK [code] text\r\n`. A tag that is not a valid tag is written as `*`.
pub fn tagged(out: &mut Vec<u8>, tag: &str, status: Status, code: Option<&Code>, text: &str) {
    let valid = !tag.is_empty() && tag.bytes().all(crate::framer::is_tag_char);
    out.extend_from_slice(if valid { tag.as_bytes() } else { b"*" });
    out.push(b' ');
    status_line(out, status, code, text);
}

/// `* OK [code] text\r\n`.
pub fn untagged(out: &mut Vec<u8>, status: Status, code: Option<&Code>, text: &str) {
    out.extend_from_slice(b"* ");
    status_line(out, status, code, text);
}

/// `+ text\r\n`.
pub fn continuation(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    push_text(out, text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `+ base64\r\n`: a SASL challenge (an empty one is `+ \r\n`).
pub fn continuation_base64(out: &mut Vec<u8>, challenge: &[u8]) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(challenge)
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
}

/// Whether `b` can be in a quoted string as is or escaped.
fn is_quotable(b: u8) -> bool {
    matches!(b, 0x01..=0x7f) && b != b'\r' && b != b'\n'
}

/// `"..."` with `"` and `\` escaped; the caller has checked [`is_quotable`].
fn push_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `{n}\r\n` and the bytes.
pub fn write_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// A string: quoted when every byte can be and it is at most 1024 bytes, else a literal.
pub fn write_string(out: &mut Vec<u8>, value: impl AsRef<[u8]>) {
    let bytes = value.as_ref();
    if bytes.len() <= MAX_QUOTED && bytes.iter().all(|&b| is_quotable(b)) {
        push_quoted(out, bytes);
    } else {
        write_literal(out, bytes);
    }
}

/// An astring: an atom when it is one, else a string.
pub fn write_astring(out: &mut Vec<u8>, value: impl AsRef<[u8]>) {
    let bytes = value.as_ref();
    if !bytes.is_empty() && bytes.len() <= MAX_QUOTED && bytes.iter().all(|&b| is_astring_char(b)) {
        out.extend_from_slice(bytes);
    } else {
        write_string(out, bytes);
    }
}

/// An nstring: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(bytes) => write_string(out, bytes),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name: `INBOX` in any case as the atom `INBOX`, others as astrings (names with
/// `%` or `*` are quoted). The name is written as given: encode it (modified UTF-7) first.
pub fn write_mailbox(out: &mut Vec<u8>, name: impl AsRef<[u8]>) {
    let bytes = name.as_ref();
    if bytes.eq_ignore_ascii_case(b"INBOX") {
        out.extend_from_slice(b"INBOX");
    } else {
        write_astring(out, bytes);
    }
}

/// `(\Seen $Forwarded)`.
pub fn write_flags(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        push_code_text(out, flag.as_str());
    }
    out.push(b')');
}

/// `"17-Jul-1996 02:44:25 -0700"`.
pub fn write_date_time(out: &mut Vec<u8>, date_time: &DateTime) {
    out.push(b'"');
    out.extend_from_slice(date_time.to_string().as_bytes());
    out.push(b'"');
}

/// Builds `* n FETCH (item value ...)\r\n`; items are separated by spaces as they are added.
#[derive(Debug)]
pub struct FetchWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> FetchWriter<'a> {
    /// Starts the response for message sequence number `seq`.
    pub fn new(out: &'a mut Vec<u8>, seq: u32) -> Self {
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        FetchWriter { out, first: true }
    }

    /// Writes `name ` (after a space unless first) and returns the buffer for the value.
    pub fn item(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        push_text(self.out, name.as_bytes());
        self.out.push(b' ');
        self.out
    }

    /// `UID n`
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.item("UID")
            .extend_from_slice(uid.to_string().as_bytes());
        self
    }

    /// `FLAGS (...)`
    pub fn flags(&mut self, flags: &[Flag]) -> &mut Self {
        write_flags(self.item("FLAGS"), flags);
        self
    }

    /// `MODSEQ (n)`
    pub fn mod_seq(&mut self, mod_seq: u64) -> &mut Self {
        let out = self.item("MODSEQ");
        out.extend_from_slice(format!("({mod_seq})").as_bytes());
        self
    }

    /// `RFC822.SIZE n`
    pub fn rfc822_size(&mut self, size: u64) -> &mut Self {
        self.item("RFC822.SIZE")
            .extend_from_slice(size.to_string().as_bytes());
        self
    }

    /// `INTERNALDATE "..."`
    pub fn internal_date(&mut self, date_time: &DateTime) -> &mut Self {
        write_date_time(self.item("INTERNALDATE"), date_time);
        self
    }

    /// `name {n}\r\n...` or `name "..."`, e.g. for `BODY[TEXT]`; `None` writes `NIL`.
    pub fn nstring(&mut self, name: &str, value: Option<&[u8]>) -> &mut Self {
        write_nstring(self.item(name), value);
        self
    }

    /// `name ~{n}\r\n...`: a BINARY section whose content has NUL.
    pub fn literal8(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let out = self.item(name);
        out.push(b'~');
        write_literal(out, value);
        self
    }

    /// Ends the response with `)\r\n`.
    pub fn finish(self) {
        self.out.extend_from_slice(b")\r\n");
    }
}
