//! Client commands: one line, TAB-separated, decoded into [`Command`].

use std::net::IpAddr;

use crate::ProtocolError;
use crate::escape::unescape;

/// One line from the auth client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `VERSION TAB major TAB minor`.
    Version { major: u32, minor: u32 },
    /// `CPID TAB pid`.
    Cpid(u32),
    /// `AUTH TAB id TAB mechanism TAB params...`.
    Auth(AuthRequest),
    /// `CONT TAB id TAB base64`.
    Cont { id: u32, data: Vec<u8> },
}

/// The parameters of an `AUTH` line that this server uses. Others (`nologin`, `lport`,
/// `session`, `valid-client-cert`...) are ignored, as the protocol asks for unknown ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AuthRequest {
    pub(crate) id: u32,
    /// Mechanism name as sent (matched case-insensitively later).
    pub(crate) mechanism: String,
    pub(crate) service: String,
    /// `secured`, `secured=tls`, or `transport=TLS`/`transport=trusted`.
    pub(crate) secured: bool,
    pub(crate) local_ip: Option<IpAddr>,
    pub(crate) remote_ip: Option<IpAddr>,
    /// Raw base64 of `resp=`, if the parameter was present.
    pub(crate) initial_response: Option<Vec<u8>>,
}

impl Command {
    /// Parses one line (without LF).
    pub(crate) fn parse(line: &[u8]) -> Result<Self, ProtocolError> {
        let mut fields = line.split(|&b| b == b'\t');
        let name = fields.next().unwrap_or_default();
        match name {
            b"VERSION" => {
                let major = number(fields.next(), "VERSION", "bad major version")?;
                let minor = number(fields.next(), "VERSION", "bad minor version")?;
                Ok(Self::Version { major, minor })
            }
            b"CPID" => Ok(Self::Cpid(number(fields.next(), "CPID", "bad pid")?)),
            b"AUTH" => parse_auth(fields).map(Self::Auth),
            b"CONT" => {
                // The data is everything after the second TAB, unsplit: a TAB in it is just
                // invalid base64 and fails the request, not the connection.
                let rest = line.get(b"CONT\t".len()..).unwrap_or_default();
                let Some(tab) = rest.iter().position(|&b| b == b'\t') else {
                    return Err(malformed("CONT", "missing data field"));
                };
                let id = request_id(rest.get(..tab), "CONT")?;
                let data = rest.get(tab + 1..).unwrap_or_default().to_vec();
                Ok(Self::Cont { id, data })
            }
            other => Err(ProtocolError::UnknownCommand(sanitize(other))),
        }
    }
}

fn parse_auth<'a>(
    mut fields: impl Iterator<Item = &'a [u8]>,
) -> Result<AuthRequest, ProtocolError> {
    let id = request_id(fields.next(), "AUTH")?;
    let mechanism = match fields.next() {
        Some(name) if !name.is_empty() => String::from_utf8_lossy(&unescape(name)).into_owned(),
        _ => return Err(malformed("AUTH", "missing mechanism")),
    };
    let mut request = AuthRequest {
        id,
        mechanism,
        ..AuthRequest::default()
    };
    let mut service = None;
    for field in fields.by_ref() {
        let field = unescape(field);
        let (key, value) = match field.iter().position(|&b| b == b'=') {
            Some(eq) => (
                field.get(..eq).unwrap_or_default(),
                field.get(eq + 1..).unwrap_or_default(),
            ),
            None => (field.as_slice(), &b""[..]),
        };
        match key {
            b"service" => service = Some(String::from_utf8_lossy(value).into_owned()),
            b"secured" => request.secured = true,
            b"transport" => {
                request.secured |=
                    value.eq_ignore_ascii_case(b"TLS") || value.eq_ignore_ascii_case(b"trusted");
            }
            b"lip" => request.local_ip = parse_text(value),
            b"rip" => request.remote_ip = parse_text(value),
            b"resp" => {
                request.initial_response = Some(value.to_vec());
                // Must be the last parameter, so that user data put into it unfiltered
                // cannot smuggle in others.
                break;
            }
            _ => {}
        }
    }
    if fields.next().is_some() {
        return Err(malformed("AUTH", "parameters after resp"));
    }
    request.service = service.ok_or(malformed("AUTH", "missing service"))?;
    Ok(request)
}

/// A request id: a non-zero 32-bit decimal number.
fn request_id(field: Option<&[u8]>, command: &'static str) -> Result<u32, ProtocolError> {
    match number(field, command, "bad request id")? {
        0 => Err(malformed(command, "request id 0")),
        id => Ok(id),
    }
}

fn number(
    field: Option<&[u8]>,
    command: &'static str,
    reason: &'static str,
) -> Result<u32, ProtocolError> {
    let field = field.unwrap_or_default();
    // `u32::from_str` accepts a leading '+'; the protocol has digits only.
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(malformed(command, reason));
    }
    parse_text(field).ok_or(malformed(command, reason))
}

fn parse_text<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn malformed(command: &'static str, reason: &'static str) -> ProtocolError {
    ProtocolError::Malformed { command, reason }
}

/// Printable ASCII only, at most 32 bytes: the name goes into logs.
fn sanitize(name: &[u8]) -> String {
    name.iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postfix_auth_line() {
        let line = b"AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.1\trip=198.51.100.7\tsecured\tresp=AHRlc3QAcGFzcw==";
        let Command::Auth(request) = Command::parse(line).unwrap() else {
            panic!("not AUTH");
        };
        assert_eq!(request.id, 1);
        assert_eq!(request.mechanism, "PLAIN");
        assert_eq!(request.service, "smtp");
        assert!(request.secured);
        assert_eq!(request.remote_ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(
            request.initial_response.as_deref(),
            Some(&b"AHRlc3QAcGFzcw=="[..])
        );
    }

    #[test]
    fn rejects_broken_lines() {
        for line in [
            &b"AUTH\t1"[..],
            b"AUTH\t0\tPLAIN\tservice=smtp",
            b"AUTH\t+1\tPLAIN\tservice=smtp",
            b"AUTH\t1\tPLAIN",
            b"AUTH\t1\tPLAIN\tservice=smtp\tresp=\tsecured",
            b"CONT\t1",
            b"CONT\tx\tAA==",
            b"VERSION\t1",
            b"CPID\t",
            b"NOPE",
        ] {
            assert!(Command::parse(line).is_err(), "{line:?}");
        }
    }
}
