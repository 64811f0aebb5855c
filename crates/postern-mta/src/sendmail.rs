//! The `sendmail` command's logic without I/O: its traditional command line (the flags
//! cron, mailx, PHP and monitoring scripts pass), the header work Postfix's pickup and
//! cleanup do for local mail (`-t` recipients from To/Cc/Bcc, Bcc removed, From/Date/
//! Message-ID added when missing), and the body's line ends (LF from scripts becomes CRLF, a
//! lone `.` ends the input unless `-i`).

use std::ffi::OsString;

/// What the command was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Read a message on standard input and queue it (`-bm`, the default).
    Deliver,
    /// Speak SMTP on standard input and output (`-bs`).
    Smtp,
    /// List the queue (`-bp`, `mailq`).
    ListQueue,
    /// Deliver the queue now (`-q`).
    Flush,
    /// Rebuild the aliases database (`-bi`, `newaliases`): nothing to build here.
    Newaliases,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub mode: Option<Mode>,
    /// `-f`/`-r`: the envelope sender.
    pub sender: Option<String>,
    /// `-F`: the full name for an added From header.
    pub full_name: Option<String>,
    /// `-t`: take recipients from the headers too.
    pub from_headers: bool,
    /// `-i`/`-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// `-N`: DSN NOTIFY for every recipient (`never`, or a list of success, failure, delay).
    pub notify: Option<String>,
    /// `-R`: DSN RET (`full` or `hdrs`).
    pub ret: Option<String>,
    /// `-V`: DSN ENVID.
    pub envid: Option<String>,
    /// `-C`: the configuration file.
    pub config: Option<OsString>,
    pub verbose: bool,
    pub recipients: Vec<String>,
}

impl Options {
    pub fn mode(&self) -> Mode {
        self.mode.clone().unwrap_or(Mode::Deliver)
    }
}

/// Flags that take a value, attached (`-fuser`) or as the next argument (`-f user`).
const WITH_VALUE: &[char] = &[
    'B', 'C', 'F', 'L', 'N', 'O', 'R', 'V', 'X', 'b', 'e', 'f', 'h', 'o', 'p', 'r',
];

/// Parses sendmail's command line (after the program name), getopt style: flags may be
/// bundled (`-ti`), `--` ends them, and flags that only matter to Sendmail are accepted and
/// ignored so that callers written for it keep working.
pub fn parse_args(args: &[OsString]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("{arg:?}: not valid UTF-8"));
        };
        if text == "--" {
            break;
        }
        let Some(flags) = text.strip_prefix('-').filter(|f| !f.is_empty()) else {
            options.recipients.push(text.to_string());
            continue;
        };
        for (at, flag) in flags.char_indices() {
            if flag == 'q' {
                // -q alone flushes; -q30m (Sendmail's daemon interval) and -qR... are not ours.
                let rest = flags.get(at + 1..).unwrap_or_default();
                if !rest.is_empty() {
                    return Err(format!(
                        "-q{rest}: only -q (deliver the queue now) is supported"
                    ));
                }
                options.mode = Some(Mode::Flush);
                break;
            }
            if WITH_VALUE.contains(&flag) {
                let attached = flags.get(at + flag.len_utf8()..).unwrap_or_default();
                let value = if attached.is_empty() {
                    match args.next().and_then(|v| v.to_str()) {
                        Some(v) => v.to_string(),
                        None => return Err(format!("-{flag} needs a value")),
                    }
                } else {
                    attached.to_string()
                };
                option_with_value(&mut options, flag, value)?;
                break;
            }
            match flag {
                't' => options.from_headers = true,
                'i' => options.ignore_dots = true,
                'v' => options.verbose = true,
                // -G (gateway), -I (initialize aliases, old), -m (me too), -n (no aliases),
                // -U (initial submission), -x, -c: meaningless here.
                'G' | 'm' | 'n' | 'U' | 'x' | 'c' => {}
                'I' => options.mode = Some(Mode::Newaliases),
                other => return Err(format!("-{other}: unknown option")),
            }
        }
    }
    options
        .recipients
        .extend(args.filter_map(|a| a.to_str().map(str::to_string)));
    Ok(options)
}

fn option_with_value(options: &mut Options, flag: char, value: String) -> Result<(), String> {
    match flag {
        'f' | 'r' => options.sender = Some(value),
        'F' => options.full_name = Some(value),
        'C' => options.config = Some(value.into()),
        'N' => {
            let v = value.to_ascii_lowercase();
            let ok = v == "never"
                || v.split(',')
                    .all(|w| matches!(w.trim(), "success" | "failure" | "delay"));
            if !ok {
                return Err(format!(
                    "-N {value}: expected never, or success, failure, delay"
                ));
            }
            options.notify = Some(v);
        }
        'R' => match value.to_ascii_lowercase().as_str() {
            "full" | "hdrs" => options.ret = Some(value.to_ascii_lowercase()),
            _ => return Err(format!("-R {value}: expected full or hdrs")),
        },
        'V' => options.envid = Some(value),
        'b' => {
            options.mode = Some(match value.as_str() {
                "m" => Mode::Deliver,
                "s" => Mode::Smtp,
                "p" => Mode::ListQueue,
                "i" => Mode::Newaliases,
                other => return Err(format!("-b{other}: not supported (use -bm, -bs, -bp, -bi)")),
            });
        }
        // -oi is -i; the other Sendmail options (-oem, -odb, -oQ...) do not apply.
        'o' if value == "i" => options.ignore_dots = true,
        // -B body type, -e error mode, -h hop count, -L syslog label, -O option, -p protocol,
        // -X traffic log: nothing to do.
        _ => {}
    }
    Ok(())
}

/// `name` qualified with `domain` when it has no `@` (cron's `root`, mailx's `alice`).
pub fn qualify(address: &str, domain: &str) -> String {
    let address = address.trim();
    let bare = address
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(address);
    if bare.contains('@') || bare.is_empty() {
        bare.to_string()
    } else {
        format!("{bare}@{domain}")
    }
}

/// Largest header section read before the body (Postfix's `header_size_limit` is 100 KiB).
pub const MAX_HEADER: usize = 1 << 20;

/// What [`prepare_header`] made of the header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The header section to send, CRLF line ends, with its terminating empty line.
    pub header: Vec<u8>,
    /// Recipients found in the headers (for `-t`), qualified.
    pub recipients: Vec<String>,
}

/// What the header work needs to know.
#[derive(Debug, Clone)]
pub struct Local<'a> {
    pub sender: &'a str,
    pub full_name: Option<&'a str>,
    pub origin_domain: &'a str,
    pub hostname: &'a str,
    /// The `Date:` value to add if missing.
    pub date: &'a str,
    /// A unique token for an added `Message-ID:`.
    pub unique: &'a str,
}

/// Splits what was read first into the header section and what follows it: the header ends
/// at the first empty line or at the first line that is not a header field (which then
/// starts the body, as Postfix's cleanup treats it). A leading mbox `From ` line is dropped.
/// Returns `None` while more input is needed to decide.
pub fn split_header(input: &[u8], at_eof: bool) -> Option<(Vec<u8>, usize)> {
    let mut offset = 0;
    let mut header = Vec::new();
    let mut first = true;
    loop {
        let rest = input.get(offset..).unwrap_or_default();
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if !at_eof {
                return None;
            }
            // The input ended inside the header section (or is empty).
            if !rest.is_empty() && is_header_line(rest, !header.is_empty()) {
                header.extend_from_slice(rest);
                header.push(b'\n');
                return Some((header, input.len()));
            }
            return Some((header, offset));
        };
        let line = rest.get(..=end).unwrap_or_default();
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if first && content.starts_with(b"From ") {
            first = false;
            offset += line.len();
            continue;
        }
        first = false;
        if content.is_empty() {
            return Some((header, offset + line.len()));
        }
        if !is_header_line(content, !header.is_empty()) {
            return Some((header, offset));
        }
        header.extend_from_slice(content);
        header.push(b'\n');
        offset += line.len();
    }
}

fn is_header_line(line: &[u8], continuation_allowed: bool) -> bool {
    if line.starts_with(b" ") || line.starts_with(b"\t") {
        return continuation_allowed;
    }
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line
            .get(..colon)
            .is_some_and(|name| name.iter().all(|&b| b.is_ascii_graphic() && b != b':')),
        _ => false,
    }
}

/// Fields of an LF-separated header section: (name, whole field with its folds, LF-free
/// lines joined by LF).
fn fields(header: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in header.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some((_, field)) = out.last_mut() {
                field.push(b'\n');
                field.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .iter()
            .position(|&b| b == b':')
            .and_then(|c| line.get(..c))
            .map(|n| String::from_utf8_lossy(n).trim().to_ascii_lowercase())
            .unwrap_or_default();
        out.push((name, line.to_vec()));
    }
    out
}

/// The header work on a header section from [`split_header`].
pub fn prepare_header(header: &[u8], local: &Local<'_>, from_headers: bool) -> Prepared {
    let fields = fields(header);
    let has = |name: &str| fields.iter().any(|(n, _)| n == name);
    // With Resent- headers, -t reads the Resent- recipients (RFC 5322 3.6.6).
    let resent = fields.iter().any(|(n, _)| n.starts_with("resent-"));
    let (to, cc, bcc) = if resent {
        ("resent-to", "resent-cc", "resent-bcc")
    } else {
        ("to", "cc", "bcc")
    };
    let mut recipients = Vec::new();
    if from_headers {
        let mut crlf = Vec::new();
        for (name, field) in &fields {
            if name == to || name == cc || name == bcc {
                crlf.extend_from_slice(&lf_to_crlf(field));
                crlf.extend_from_slice(b"\r\n");
            }
        }
        crlf.extend_from_slice(b"\r\n");
        if let Some(message) = mail_parser::MessageParser::default().parse_headers(&crlf) {
            use mail_parser::HeaderName;
            let names = if resent {
                [
                    HeaderName::ResentTo,
                    HeaderName::ResentCc,
                    HeaderName::ResentBcc,
                ]
            } else {
                [HeaderName::To, HeaderName::Cc, HeaderName::Bcc]
            };
            for header_name in names {
                for value in message.header_values(header_name) {
                    if let mail_parser::HeaderValue::Address(address) = value {
                        for addr in address.iter() {
                            // A bare `bob` parses as a name without an address: it is a
                            // local part (what cron and mailx write).
                            let bare = addr
                                .name()
                                .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace));
                            if let Some(a) = addr.address().or(bare) {
                                let a = qualify(a, local.origin_domain);
                                if !recipients.contains(&a) {
                                    recipients.push(a);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(header.len() + 256);
    for (name, field) in &fields {
        if name == "bcc" || name == "resent-bcc" {
            continue;
        }
        out.extend_from_slice(&lf_to_crlf(field));
        out.extend_from_slice(b"\r\n");
    }
    if !has("from") {
        let from = match local.full_name {
            Some(name) if !name.trim().is_empty() => {
                format!("From: {} <{}>\r\n", display_name(name), local.sender)
            }
            _ => format!("From: {}\r\n", local.sender),
        };
        out.extend_from_slice(from.as_bytes());
    }
    if !has("date") {
        out.extend_from_slice(format!("Date: {}\r\n", local.date).as_bytes());
    }
    if !has("message-id") {
        out.extend_from_slice(
            format!("Message-ID: <{}@{}>\r\n", local.unique, local.hostname).as_bytes(),
        );
    }
    if !has("to") && !has("cc") && !has("bcc") && !resent {
        // RFC 5322 needs a destination field or none at all; Postfix adds this one.
        out.extend_from_slice(b"To: undisclosed-recipients:;\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Prepared {
        header: out,
        recipients,
    }
}

/// A full name as a quoted string when it holds specials, so `-F "Doe, John"` stays one name.
fn display_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    if name
        .chars()
        .all(|c| c.is_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c))
    {
        name
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn lf_to_crlf(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len() + 8);
    for &b in field {
        if b == b'\n' {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b);
        }
    }
    out
}

/// The body's line ends, chunk by chunk: LF and CRLF both become CRLF, and unless dots are
/// ignored a line holding a single `.` ends the input. The SMTP client dot-stuffs afterwards.
#[derive(Debug, Clone)]
pub struct BodyLines {
    ignore_dots: bool,
    at_line_start: bool,
    /// The current line so far is just `.` (or `.` and CR).
    dot_line: bool,
    /// A CR is held back: it may precede an LF.
    cr: bool,
    ended: bool,
}

impl BodyLines {
    pub fn new(ignore_dots: bool) -> Self {
        BodyLines {
            ignore_dots,
            at_line_start: true,
            dot_line: false,
            cr: false,
            ended: false,
        }
    }

    /// Whether a lone-dot line ended the input: ignore what follows.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Converts `chunk`, appending to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.ended {
                return;
            }
            if self.cr && b != b'\n' {
                // A lone CR inside a line is message content.
                self.cr = false;
                self.flush_dot(out);
                out.push(b'\r');
                self.at_line_start = false;
            }
            match b {
                b'\n' => {
                    if self.dot_line {
                        self.ended = true;
                        return;
                    }
                    self.cr = false;
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
                b'\r' => self.cr = true,
                b'.' if self.at_line_start && !self.ignore_dots => {
                    self.dot_line = true;
                    self.at_line_start = false;
                }
                _ => {
                    self.flush_dot(out);
                    out.push(b);
                    self.at_line_start = false;
                }
            }
        }
    }

    fn flush_dot(&mut self, out: &mut Vec<u8>) {
        if self.dot_line {
            out.push(b'.');
            self.dot_line = false;
        }
    }

    /// The end of input: a last line without a line end gets one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.flush_dot(out);
        if self.cr {
            self.cr = false;
            out.push(b'\r');
            self.at_line_start = false;
        }
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_lines_that_cron_mailx_and_php_use() {
        let o = parse_args(&args(&["-t", "-i"])).unwrap();
        assert!(o.from_headers && o.ignore_dots && o.recipients.is_empty());
        let o = parse_args(&args(&["-ti", "-fbounce@example.org", "-F", "Cron Daemon"])).unwrap();
        assert!(o.from_headers && o.ignore_dots);
        assert_eq!(o.sender.as_deref(), Some("bounce@example.org"));
        assert_eq!(o.full_name.as_deref(), Some("Cron Daemon"));
        let o = parse_args(&args(&["-FCronDaemon", "-odi", "-oem", "-oi", "root"])).unwrap();
        assert!(o.ignore_dots);
        assert_eq!(o.recipients, ["root"]);
        let o = parse_args(&args(&["-f", "a@b.example", "--", "-weird@example.org"])).unwrap();
        assert_eq!(o.recipients, ["-weird@example.org"]);
        let o = parse_args(&args(&[
            "-r",
            "x@example.org",
            "-N",
            "failure,delay",
            "-R",
            "hdrs",
            "u",
        ]))
        .unwrap();
        assert_eq!(o.sender.as_deref(), Some("x@example.org"));
        assert_eq!(o.notify.as_deref(), Some("failure,delay"));
        assert_eq!(o.ret.as_deref(), Some("hdrs"));
        assert_eq!(parse_args(&args(&["-bs"])).unwrap().mode(), Mode::Smtp);
        assert_eq!(parse_args(&args(&["-bp"])).unwrap().mode(), Mode::ListQueue);
        assert_eq!(parse_args(&args(&["-q"])).unwrap().mode(), Mode::Flush);
        assert_eq!(
            parse_args(&args(&["-bi"])).unwrap().mode(),
            Mode::Newaliases
        );
        assert_eq!(
            parse_args(&args(&["a@b.example"])).unwrap().mode(),
            Mode::Deliver
        );
        assert!(
            parse_args(&args(&["-f"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_args(&args(&["-bd"]))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            parse_args(&args(&["-q30m"]))
                .unwrap_err()
                .contains("only -q")
        );
        assert!(parse_args(&args(&["-N", "sometimes"])).is_err());
        assert!(parse_args(&args(&["-k"])).unwrap_err().contains("unknown"));
    }

    #[test]
    fn addresses_without_a_domain_get_the_origin_domain() {
        assert_eq!(qualify("root", "example.org"), "root@example.org");
        assert_eq!(qualify("<root>", "example.org"), "root@example.org");
        assert_eq!(qualify("a@b.example", "example.org"), "a@b.example");
        assert_eq!(qualify("", "example.org"), "");
    }

    const LOCAL: Local<'static> = Local {
        sender: "root@example.org",
        full_name: Some("Cron Daemon"),
        origin_domain: "example.org",
        hostname: "mx.example.org",
        date: "Wed, 02 Dec 2026 05:00:00 +0000",
        unique: "1.2",
    };

    #[test]
    fn header_section_ends_at_the_empty_line_or_the_first_body_line() {
        let input = b"From root Wed Dec  2 05:00:00 2026\nSubject: a\n b\nTo: x\n\nbody\n";
        let (header, rest) = split_header(input, false).unwrap();
        assert_eq!(header, b"Subject: a\n b\nTo: x\n");
        assert_eq!(&input[rest..], b"body\n");
        // No empty line: the first non-header line starts the body (and stays in it).
        let input = b"Subject: a\r\nthis is text\r\n";
        let (header, rest) = split_header(input, false).unwrap();
        assert_eq!(header, b"Subject: a\n");
        assert_eq!(&input[rest..], b"this is text\r\n");
        assert_eq!(split_header(b"Subject: a\nTo", false), None);
        let (header, rest) = split_header(b"Subject: a\nTo: b", true).unwrap();
        assert_eq!((header.as_slice(), rest), (&b"Subject: a\nTo: b\n"[..], 16));
        assert_eq!(split_header(b"", true), Some((Vec::new(), 0)));
    }

    #[test]
    fn dash_t_reads_to_cc_bcc_and_bcc_is_removed() {
        let header = b"To: Alice <alice@example.org>, bob\nCc: team: carol@example.net,\n dave@example.net;\nBcc: secret@example.com\nSubject: hi\n";
        let prepared = prepare_header(header, &LOCAL, true);
        assert_eq!(
            prepared.recipients,
            [
                "alice@example.org",
                "bob@example.org",
                "carol@example.net",
                "dave@example.net",
                "secret@example.com"
            ]
        );
        let text = String::from_utf8(prepared.header).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("Cc: team: carol@example.net,\r\n dave@example.net;\r\n"));
        assert!(text.contains("From: Cron Daemon <root@example.org>\r\n"));
        assert!(text.contains("Date: Wed, 02 Dec 2026 05:00:00 +0000\r\n"));
        assert!(text.contains("Message-ID: <1.2@mx.example.org>\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // Without -t the headers name no envelope recipients.
        assert!(prepare_header(header, &LOCAL, false).recipients.is_empty());
    }

    #[test]
    fn existing_fields_are_kept_and_resent_headers_win_for_dash_t() {
        let header = b"From: me@example.org\nDate: x\nMessage-ID: <a@b>\nTo: old@example.org\nResent-To: new@example.org\nResent-Bcc: hidden@example.org\n";
        let prepared = prepare_header(header, &LOCAL, true);
        assert_eq!(
            prepared.recipients,
            ["new@example.org", "hidden@example.org"]
        );
        let text = String::from_utf8(prepared.header).unwrap();
        assert_eq!(
            text,
            "From: me@example.org\r\nDate: x\r\nMessage-ID: <a@b>\r\nTo: old@example.org\r\nResent-To: new@example.org\r\n\r\n"
        );
        let text = String::from_utf8(
            prepare_header(
                b"",
                &Local {
                    full_name: Some("Doe, John"),
                    ..LOCAL
                },
                false,
            )
            .header,
        )
        .unwrap();
        assert!(
            text.contains("From: \"Doe, John\" <root@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: undisclosed-recipients:;\r\n"), "{text}");
    }

    fn convert(input: &[u8], ignore_dots: bool, chunk: usize) -> (Vec<u8>, bool) {
        let mut lines = BodyLines::new(ignore_dots);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            lines.push(piece, &mut out);
        }
        lines.finish(&mut out);
        (out, lines.ended())
    }

    #[test]
    fn body_line_ends_and_the_lone_dot_at_every_chunk_size() {
        for chunk in 1..8 {
            assert_eq!(convert(b"a\nb\r\nc", false, chunk).0, b"a\r\nb\r\nc\r\n");
            assert_eq!(
                convert(b"a\n.\nignored\n", false, chunk),
                (b"a\r\n".to_vec(), true)
            );
            assert_eq!(
                convert(b"a\r\n.\r\nignored", false, chunk),
                (b"a\r\n".to_vec(), true)
            );
            assert_eq!(
                convert(b"a\n.\nkept\n", true, chunk).0,
                b"a\r\n.\r\nkept\r\n"
            );
            assert_eq!(convert(b"..x\n.y\n", false, chunk).0, b"..x\r\n.y\r\n");
            assert_eq!(convert(b"x\ry\n", false, chunk).0, b"x\ry\r\n");
            assert_eq!(convert(b"end.", false, chunk).0, b"end.\r\n");
            assert_eq!(convert(b".", false, chunk).0, b".\r\n");
            assert_eq!(convert(b"", false, chunk).0, b"");
        }
    }
}
