//! What the auth server sends, parsed: the handshake lines (`VERSION`, `MECH`, `SPID`,
//! `CUID`, `COOKIE`, `DONE`) and the replies to requests (`OK`, `CONT`, `FAIL`).
//!
//! Every field is tab-unescaped before it is looked at, as Dovecot's own client library does.
//! Unknown fields and `MECH` flags are skipped; a known field that does not parse is an error.

use base64::Engine;

use super::ServerError;
use crate::escape::unescape;
use crate::session::BASE64;

/// Longest `reason=`, `code=` or `FAIL` `user=` kept, in characters: they end up in SMTP
/// replies and logs.
const MAX_TEXT: usize = 200;

/// A mechanism from a `MECH` line, with its security flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferedMechanism {
    /// The name, as the server spells it (`PLAIN`, `LOGIN`, `SCRAM-SHA-256`...).
    pub name: String,
    /// Sends the password in the clear: offer only over TLS.
    pub plaintext: bool,
    /// Logs in without credentials.
    pub anonymous: bool,
    /// Open to passive dictionary attacks.
    pub dictionary: bool,
    /// Open to active (non-dictionary) attacks.
    pub active: bool,
    /// Keeps sessions secret even if the password leaks later.
    pub forward_secrecy: bool,
    /// Authenticates the server too.
    pub mutual_auth: bool,
    /// Meant for internal clients only: never announce it to SMTP clients.
    pub private: bool,
}

/// An `OK`: the request succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSuccess {
    /// `user=`: the canonical user name, to log and to record as the authenticated sender.
    pub user: String,
    /// `resp=`, decoded: final data the mechanism sends to the client (SCRAM's server
    /// signature). PLAIN and LOGIN have none.
    pub final_data: Option<Vec<u8>>,
    /// The other fields, unescaped (`key` and value; `pass=` is never kept).
    pub fields: Vec<(String, String)>,
}

/// A `FAIL`: the request failed. Nothing here tells an unknown user from a wrong password.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthFailure {
    /// `reason=`, made printable ASCII and cut to 200 characters: safe to show the client.
    pub reason: Option<String>,
    /// `code=` (`temp_fail`, `authz_fail`, `user_disabled`, `pass_expired`, ...), printable.
    pub code: Option<String>,
    /// An internal failure at the server (`code=temp_fail`, or the older `temp` flag): the
    /// client may try again later.
    pub temporary: bool,
    /// Authentication succeeded but the authorization identity was refused (`code=authz_fail`
    /// or the older `authz` flag).
    pub authz: bool,
    /// `user=`, printable, if the server named one.
    pub user: Option<String>,
}

/// One line from the server.
#[derive(Debug)]
pub(crate) enum ServerLine {
    Version {
        major: u32,
        minor: u32,
    },
    Mech(OfferedMechanism),
    Spid(u32),
    Cuid(u32),
    Cookie(String),
    Done,
    Ok {
        id: u32,
        success: AuthSuccess,
    },
    Cont {
        id: u32,
        challenge: Vec<u8>,
    },
    Fail {
        id: u32,
        failure: AuthFailure,
    },
    /// A command this client does not know: skipped, as Postfix does.
    Unknown,
}

impl ServerLine {
    /// Parses one line (without LF).
    pub(crate) fn parse(line: &[u8]) -> Result<Self, ServerError> {
        let fields: Vec<Vec<u8>> = line.split(|&b| b == b'\t').map(unescape).collect();
        let Some((name, args)) = fields.split_first() else {
            return Ok(Self::Unknown);
        };
        let arg = |index: usize| args.get(index).map(Vec::as_slice);
        Ok(match name.as_slice() {
            b"VERSION" => Self::Version {
                major: number(arg(0), "VERSION", "bad major version")?,
                minor: number(arg(1), "VERSION", "bad minor version")?,
            },
            b"MECH" => Self::Mech(mechanism(args)?),
            b"SPID" => Self::Spid(number(arg(0), "SPID", "bad pid")?),
            b"CUID" => Self::Cuid(number(arg(0), "CUID", "bad connection id")?),
            b"COOKIE" => match arg(0) {
                Some(cookie) if !cookie.is_empty() => Self::Cookie(printable(cookie, usize::MAX)),
                _ => return Err(malformed("COOKIE", "missing cookie")),
            },
            b"DONE" => Self::Done,
            b"OK" => {
                let id = request_id(arg(0), "OK")?;
                Self::Ok {
                    id,
                    success: success(id, args.get(1..).unwrap_or_default())?,
                }
            }
            b"CONT" => {
                let id = request_id(arg(0), "CONT")?;
                // Fields after the data are tolerated: protocol 1.3 may add some.
                let data = arg(1).ok_or(malformed("CONT", "missing data"))?;
                Self::Cont {
                    id,
                    challenge: decode(data).ok_or(ServerError::InvalidBase64 { id })?,
                }
            }
            b"FAIL" => Self::Fail {
                id: request_id(arg(0), "FAIL")?,
                failure: failure(args.get(1..).unwrap_or_default()),
            },
            _ => Self::Unknown,
        })
    }
}

/// Base64 as the server sends it (padding optional), strictly otherwise.
pub(crate) fn decode(data: &[u8]) -> Option<Vec<u8>> {
    BASE64.decode(data).ok()
}

fn mechanism(args: &[Vec<u8>]) -> Result<OfferedMechanism, ServerError> {
    let Some((name, flags)) = args.split_first() else {
        return Err(malformed("MECH", "missing name"));
    };
    // The name goes back into AUTH lines and EHLO: SASL names are [A-Z0-9-_], 20 at most.
    let valid = (1..=20).contains(&name.len())
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(malformed("MECH", "bad mechanism name"));
    }
    let mut mechanism = OfferedMechanism {
        name: printable(name, usize::MAX),
        ..OfferedMechanism::default()
    };
    for flag in flags {
        match flag.as_slice() {
            b"plaintext" => mechanism.plaintext = true,
            b"anonymous" => mechanism.anonymous = true,
            b"dictionary" => mechanism.dictionary = true,
            b"active" => mechanism.active = true,
            b"forward-secrecy" => mechanism.forward_secrecy = true,
            b"mutual-auth" => mechanism.mutual_auth = true,
            b"private" => mechanism.private = true,
            _ => {}
        }
    }
    Ok(mechanism)
}

fn success(id: u32, args: &[Vec<u8>]) -> Result<AuthSuccess, ServerError> {
    let mut user = None;
    let mut final_data = None;
    let mut fields = Vec::new();
    for field in args {
        let (key, value) = split_field(field);
        match key {
            b"user" => user = Some(user_name(value)?),
            b"resp" => {
                final_data = Some(decode(value).ok_or(ServerError::InvalidBase64 { id })?);
            }
            // A proxy password has no business in an SMTP server's memory or logs.
            b"pass" => {}
            _ => fields.push((
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            )),
        }
    }
    Ok(AuthSuccess {
        user: user.ok_or(malformed("OK", "missing user"))?,
        final_data,
        fields,
    })
}

/// The name a session is authenticated as: it is logged and written into `Received:`, so a
/// server that sends an empty one or one with control characters is broken, not trusted.
fn user_name(value: &[u8]) -> Result<String, ServerError> {
    let user = std::str::from_utf8(value).map_err(|_| malformed("OK", "user is not UTF-8"))?;
    if user.is_empty() || user.chars().any(char::is_control) {
        return Err(malformed("OK", "bad user"));
    }
    Ok(user.to_owned())
}

fn failure(args: &[Vec<u8>]) -> AuthFailure {
    let mut failure = AuthFailure::default();
    for field in args {
        let (key, value) = split_field(field);
        match key {
            b"reason" => failure.reason = Some(printable(value, MAX_TEXT)),
            b"user" => failure.user = Some(printable(value, MAX_TEXT)),
            b"code" => {
                failure.temporary |= value == b"temp_fail";
                failure.authz |= value == b"authz_fail";
                failure.code = Some(printable(value, MAX_TEXT));
            }
            b"temp" => failure.temporary = true,
            b"authz" => failure.authz = true,
            _ => {}
        }
    }
    failure
}

/// `key=value`, or a flag `key` with an empty value.
fn split_field(field: &[u8]) -> (&[u8], &[u8]) {
    match field.iter().position(|&b| b == b'=') {
        Some(eq) => (
            field.get(..eq).unwrap_or_default(),
            field.get(eq + 1..).unwrap_or_default(),
        ),
        None => (field, b""),
    }
}

/// Printable ASCII, everything else as `?` (as Postfix does), at most `limit` characters.
fn printable(bytes: &[u8], limit: usize) -> String {
    bytes
        .iter()
        .take(limit)
        .map(|&b| {
            if b == b' ' || b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// A request id: a non-zero 32-bit decimal number.
fn request_id(field: Option<&[u8]>, command: &'static str) -> Result<u32, ServerError> {
    match number(field, command, "bad request id")? {
        0 => Err(malformed(command, "request id 0")),
        id => Ok(id),
    }
}

fn number(
    field: Option<&[u8]>,
    command: &'static str,
    reason: &'static str,
) -> Result<u32, ServerError> {
    let field = field.unwrap_or_default();
    // `u32::from_str` accepts a leading '+'; the protocol has digits only.
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(malformed(command, reason));
    }
    std::str::from_utf8(field)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(malformed(command, reason))
}

fn malformed(command: &'static str, reason: &'static str) -> ServerError {
    ServerError::Malformed { command, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> ServerLine {
        ServerLine::parse(line).unwrap()
    }

    #[test]
    fn parses_dovecot_mech_lines() {
        let ServerLine::Mech(mech) = parse(b"MECH\tSCRAM-SHA-256\tmutual-auth\tfuture-flag") else {
            panic!("not MECH");
        };
        assert_eq!(mech.name, "SCRAM-SHA-256");
        assert!(mech.mutual_auth && !mech.plaintext && !mech.private);
        let ServerLine::Mech(mech) = parse(b"MECH\tPLAIN\tplaintext") else {
            panic!("not MECH");
        };
        assert!(mech.plaintext);
    }

    #[test]
    fn ok_keeps_unknown_fields_but_not_passwords() {
        let ServerLine::Ok { id, success } =
            parse(b"OK\t7\tuser=al\x01=ice\tpass=hunter2\tnologin\tresp=AAE=")
        else {
            panic!("not OK");
        };
        assert_eq!(id, 7);
        assert_eq!(success.user, "al=ice");
        assert_eq!(success.final_data, Some(vec![0, 1]));
        assert_eq!(success.fields, vec![("nologin".into(), String::new())]);
    }

    #[test]
    fn fail_codes_old_and_new() {
        let ServerLine::Fail { failure, .. } =
            parse(b"FAIL\t3\tuser=bob\tcode=temp_fail\treason=db\x01n down")
        else {
            panic!("not FAIL");
        };
        assert!(failure.temporary && !failure.authz);
        assert_eq!(failure.reason.as_deref(), Some("db? down"));
        let ServerLine::Fail { failure, .. } = parse(b"FAIL\t3\ttemp\tauthz") else {
            panic!("not FAIL");
        };
        assert!(failure.temporary && failure.authz && failure.reason.is_none());
    }

    #[test]
    fn rejects_broken_lines() {
        for line in [
            &b"VERSION\t1"[..],
            b"VERSION\t+1\t2",
            b"MECH",
            b"MECH\t",
            b"MECH\tPL AIN",
            b"MECH\tAAAAAAAAAAAAAAAAAAAAA",
            b"SPID\tx",
            b"CUID",
            b"COOKIE",
            b"OK\t0\tuser=a",
            b"OK\t1",
            b"OK\t1\tuser=",
            b"OK\t1\tuser=a\x01nb",
            b"OK\t1\tuser=\xff",
            b"OK\t1\tuser=a\tresp=!",
            b"CONT\t1",
            b"CONT\t1\t!!!!",
            b"CONT\t4294967296\tAA==",
            b"FAIL",
            b"FAIL\tx",
        ] {
            assert!(ServerLine::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn unknown_commands_are_skipped() {
        assert!(matches!(parse(b""), ServerLine::Unknown));
        assert!(matches!(parse(b"NOTICE\t1\tx"), ServerLine::Unknown));
    }
}
