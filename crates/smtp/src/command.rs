//! SMTP/LMTP command lines: verbs (any case), their arguments, and the syntax errors that
//! become 500/501/502/553/555 replies.

use crate::address::{AddressError, ForwardPath, PathFlags, ReversePath};
use crate::params::{self, MailParams, Offered, ParamError, RcptParams};
use crate::reply::Reply;
use crate::secret::Secret;
use crate::settings::Settings;

/// Which greeting the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloVerb {
    /// `HELO`: plain SMTP, no extensions.
    Helo,
    /// `EHLO`: ESMTP.
    Ehlo,
    /// `LHLO`: LMTP.
    Lhlo,
}

impl HelloVerb {
    /// Whether ESMTP extensions apply after this greeting.
    pub fn is_extended(self) -> bool {
        self != Self::Helo
    }
}

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO`/`EHLO`/`LHLO` with the client's name for itself (as sent, unchecked: see
    /// [`crate::Host::parse`]).
    Hello {
        /// Which verb.
        verb: HelloVerb,
        /// The argument, trimmed.
        host: String,
    },
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// Sender.
        from: ReversePath,
        /// Legacy routing forms found in the path.
        flags: PathFlags,
        /// ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> [params]`
    Rcpt {
        /// Recipient.
        to: ForwardPath,
        /// Legacy routing forms found in the path.
        flags: PathFlags,
        /// ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]`
    Bdat {
        /// Octets of chunk data following the command line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [text]`
    Noop,
    /// `QUIT`
    Quit,
    /// `VRFY string`
    Vrfy(String),
    /// `HELP [topic]`
    Help,
    /// `STARTTLS`
    StartTls,
    /// `AUTH mechanism [initial-response]`
    Auth {
        /// Mechanism, upper case.
        mechanism: String,
        /// Initial response as sent (`=` means empty).
        initial: Option<Secret>,
    },
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Not UTF-8, or control characters.
    #[error("invalid characters in command line")]
    InvalidLine,
    /// Unknown verb.
    #[error("command not recognized")]
    Unrecognized,
    /// A verb we know but never implement (EXPN, TURN, ...).
    #[error("command not implemented")]
    NotImplemented,
    /// Bad arguments.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// Bad MAIL FROM path.
    #[error("bad sender address: {0}")]
    Sender(AddressError),
    /// Bad RCPT TO path.
    #[error("bad recipient address: {0}")]
    Recipient(AddressError),
    /// Bad or unsupported ESMTP parameter.
    #[error(transparent)]
    Param(ParamError),
}

impl CommandError {
    /// What the client is told.
    pub fn reply(&self) -> Reply {
        match self {
            Self::InvalidLine => Reply::invalid_line(),
            Self::Unrecognized => Reply::unrecognized_command(),
            Self::NotImplemented => Reply::not_implemented(),
            Self::Syntax(detail) => Reply::syntax_error(detail),
            Self::Sender(AddressError::NeedsSmtputf8)
            | Self::Recipient(AddressError::NeedsSmtputf8) => Reply::smtputf8_required(),
            Self::Sender(error) => Reply::bad_sender_syntax(&error.to_string()),
            Self::Recipient(error) => Reply::bad_recipient_syntax(&error.to_string()),
            Self::Param(error) => error.reply(),
        }
    }
}

/// What parsing depends on besides the line: the parameters on offer and whether the open
/// transaction allows UTF-8 recipients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    pub(crate) offered: Offered,
    pub(crate) utf8_recipients: bool,
    pub(crate) allow_space_after_colon: bool,
}

impl Command {
    /// Parses one command line (without its CRLF) as if after EHLO, with SMTPUTF8 allowed for
    /// recipients; the session uses its own state instead.
    pub fn parse(line: &[u8], settings: &Settings) -> Result<Self, CommandError> {
        let context = Context {
            offered: Offered::new(settings, true, true),
            utf8_recipients: settings.extensions.smtputf8,
            allow_space_after_colon: settings.allow_space_after_colon,
        };
        parse(line, &context)
    }
}

pub(crate) fn parse(line: &[u8], context: &Context) -> Result<Command, CommandError> {
    let line = std::str::from_utf8(line).map_err(|_| CommandError::InvalidLine)?;
    if line.chars().any(char::is_control) {
        return Err(CommandError::InvalidLine);
    }
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    if verb.len() > 8 {
        return Err(CommandError::Unrecognized);
    }
    let arg = rest.trim_matches(' ');
    let no_args = |command| {
        if arg.is_empty() {
            Ok(command)
        } else {
            Err(CommandError::Syntax("no arguments allowed"))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "HELO" => hello(HelloVerb::Helo, arg),
        "EHLO" => hello(HelloVerb::Ehlo, arg),
        "LHLO" => hello(HelloVerb::Lhlo, arg),
        "MAIL" => mail(rest, context),
        "RCPT" => rcpt(rest, context),
        "DATA" => no_args(Command::Data),
        "BDAT" => bdat(arg),
        "RSET" => no_args(Command::Rset),
        "QUIT" => no_args(Command::Quit),
        "STARTTLS" => no_args(Command::StartTls),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" if arg.is_empty() => Err(CommandError::Syntax("VRFY needs an argument")),
        "VRFY" => Ok(Command::Vrfy(arg.to_owned())),
        "AUTH" => auth(arg),
        "EXPN" | "TURN" | "ETRN" | "ATRN" | "SEND" | "SOML" | "SAML" => {
            Err(CommandError::NotImplemented)
        }
        _ => Err(CommandError::Unrecognized),
    }
}

fn hello(verb: HelloVerb, arg: &str) -> Result<Command, CommandError> {
    if arg.is_empty() {
        return Err(CommandError::Syntax("host name required"));
    }
    if !arg.is_ascii() {
        return Err(CommandError::Syntax("host name must be ASCII"));
    }
    Ok(Command::Hello {
        verb,
        host: arg.to_owned(),
    })
}

/// Splits `KEYWORD:<path> params` after the verb; `keyword` includes the colon.
fn split_path<'a>(
    rest: &'a str,
    keyword: &str,
    context: &Context,
) -> Result<(&'a str, &'a str), CommandError> {
    let syntax = CommandError::Syntax(if keyword == "FROM:" {
        "use MAIL FROM:<address>"
    } else {
        "use RCPT TO:<address>"
    });
    let head = rest.get(..keyword.len()).ok_or(syntax.clone())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(syntax);
    }
    let mut path = rest.get(keyword.len()..).unwrap_or_default();
    if context.allow_space_after_colon {
        path = path.trim_start_matches(' ');
    }
    let end = path_end(path).unwrap_or(path.len());
    let (path, params) = path.split_at_checked(end).ok_or(syntax.clone())?;
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax);
    }
    Ok((path, params))
}

/// Byte index just past the `>` that closes the path, skipping quoted strings.
fn path_end(text: &str) -> Option<usize> {
    if !text.starts_with('<') {
        return None;
    }
    let mut quoted = false;
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                chars.next();
            }
            '>' if !quoted => return Some(index + 1),
            _ => {}
        }
    }
    None
}

fn mail(rest: &str, context: &Context) -> Result<Command, CommandError> {
    let (path, params) = split_path(rest, "FROM:", context)?;
    let params = params::parse_mail(params, context.offered).map_err(CommandError::Param)?;
    let (from, flags) = ReversePath::parse(path, params.smtputf8).map_err(CommandError::Sender)?;
    Ok(Command::Mail {
        from,
        flags,
        params,
    })
}

fn rcpt(rest: &str, context: &Context) -> Result<Command, CommandError> {
    let (path, params) = split_path(rest, "TO:", context)?;
    let utf8 = context.utf8_recipients;
    let (to, flags) = ForwardPath::parse(path, utf8).map_err(CommandError::Recipient)?;
    let params = params::parse_rcpt(params, context.offered, utf8).map_err(CommandError::Param)?;
    Ok(Command::Rcpt { to, flags, params })
}

fn bdat(arg: &str) -> Result<Command, CommandError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let size = words
        .next()
        .filter(|w| (1..=20).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
        .ok_or(CommandError::Syntax("use BDAT size [LAST]"))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax("use BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax("use BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

fn auth(arg: &str) -> Result<Command, CommandError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let mechanism = words
        .next()
        .filter(|m| {
            (1..=20).contains(&m.len())
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or(CommandError::Syntax(
            "use AUTH mechanism [initial-response]",
        ))?;
    let initial = words.next().map(Secret::new);
    if words.next().is_some() {
        return Err(CommandError::Syntax(
            "use AUTH mechanism [initial-response]",
        ));
    }
    Ok(Command::Auth {
        mechanism: mechanism.to_ascii_uppercase(),
        initial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Host, Mailbox};
    use crate::params::Body;

    fn parse(line: &str) -> Result<Command, CommandError> {
        let mut settings = Settings::smtp("mx.example.org");
        settings.auth_mechanisms = vec!["PLAIN".into()];
        Command::parse(line.as_bytes(), &settings)
    }

    fn mailbox(local: &str, domain: &str) -> Mailbox {
        Mailbox {
            local_part: local.into(),
            host: Host::Domain(domain.into()),
        }
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(parse("noop"), Ok(Command::Noop));
        assert_eq!(parse("NoOp hello there"), Ok(Command::Noop));
        assert_eq!(parse("rset"), Ok(Command::Rset));
        assert_eq!(parse("Quit "), Ok(Command::Quit));
        assert_eq!(
            parse("ehlo client.example.net"),
            Ok(Command::Hello {
                verb: HelloVerb::Ehlo,
                host: "client.example.net".into()
            })
        );
    }

    #[test]
    fn rfc5321_appendix_d_commands() {
        assert_eq!(
            parse("MAIL FROM:<Smith@bar.com>"),
            Ok(Command::Mail {
                from: ReversePath::Mailbox(mailbox("Smith", "bar.com")),
                flags: PathFlags::default(),
                params: MailParams::default(),
            })
        );
        assert_eq!(
            parse("RCPT TO:<Jones@foo.com>"),
            Ok(Command::Rcpt {
                to: ForwardPath::Mailbox(mailbox("Jones", "foo.com")),
                flags: PathFlags::default(),
                params: RcptParams::default(),
            })
        );
        assert_eq!(parse("DATA"), Ok(Command::Data));
    }

    #[test]
    fn mail_with_parameters_and_quirks() {
        let Ok(Command::Mail { from, params, .. }) =
            parse("mail from: <\"a >b\"@example.org> BODY=8BITMIME SIZE=12")
        else {
            panic!("not parsed");
        };
        assert_eq!(from.to_string(), "<\"a >b\"@example.org>");
        assert_eq!(params.body, Some(Body::EightBitMime));
        assert_eq!(params.size, Some(12));
        assert_eq!(
            parse("MAIL FROM:<>"),
            Ok(Command::Mail {
                from: ReversePath::Null,
                flags: PathFlags::default(),
                params: MailParams::default()
            })
        );
    }

    #[test]
    fn syntax_errors_and_their_replies() {
        let reply = |line| parse(line).unwrap_err().reply().to_string();
        assert_eq!(reply("FOO"), "500 5.5.2 Command not recognized");
        assert_eq!(reply("EXPN staff"), "502 5.5.1 Command not implemented");
        assert_eq!(
            reply("DATA now"),
            "501 5.5.4 Syntax error: no arguments allowed"
        );
        assert_eq!(reply("EHLO"), "501 5.5.4 Syntax error: host name required");
        assert_eq!(
            reply("MAIL TO:<a@b>"),
            "501 5.5.4 Syntax error: use MAIL FROM:<address>"
        );
        assert_eq!(
            reply("MAIL FROM:a@b.c"),
            "501 5.1.7 Bad sender address syntax: path must be enclosed in <>"
        );
        assert_eq!(
            reply("RCPT TO:<a@b.c>x"),
            "501 5.5.4 Syntax error: use RCPT TO:<address>"
        );
        assert_eq!(
            reply("RCPT TO:<a@>"),
            "501 5.1.3 Bad recipient address syntax: malformed domain"
        );
        assert_eq!(
            reply("MAIL FROM:<a@b.c> FOO=1"),
            "555 5.5.4 Unsupported parameter FOO"
        );
        assert_eq!(
            reply("MAIL FROM:<ü@b.c>"),
            "553 5.6.7 Non-ASCII address requires SMTPUTF8"
        );
        assert_eq!(
            reply("NOOP\u{0}"),
            "500 5.5.2 Syntax error: invalid characters"
        );
        assert_eq!(parse("MAIL FROM:<ü@b.c> SMTPUTF8").map(|_| ()), Ok(()));
    }

    #[test]
    fn bdat_and_auth() {
        assert_eq!(
            parse("BDAT 86 LAST"),
            Ok(Command::Bdat {
                size: 86,
                last: true
            })
        );
        assert_eq!(
            parse("bdat 0"),
            Ok(Command::Bdat {
                size: 0,
                last: false
            })
        );
        for bad in ["BDAT", "BDAT x", "BDAT 1 FIRST", "BDAT 1 LAST x", "BDAT -1"] {
            assert!(matches!(parse(bad), Err(CommandError::Syntax(_))), "{bad}");
        }
        assert_eq!(
            parse("AUTH plain AHVzZXIAcGFzcw=="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some(Secret::new("AHVzZXIAcGFzcw=="))
            })
        );
        assert!(matches!(parse("AUTH"), Err(CommandError::Syntax(_))));
    }
}
