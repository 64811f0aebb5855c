//! What the server writes: handshake, `CONT`, `OK`, `FAIL`, and the one table of failure
//! texts the client (and through Postfix, the SMTP client) gets to see.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::escape::escape_into;
use crate::mech::Mechanism;

/// Why the session failed a request by itself, without asking the caller. Each has the text
/// sent as `reason=`; like Dovecot's, none tells a wrong password from an unknown user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The mechanism is not offered.
    UnsupportedMechanism,
    /// A plaintext mechanism on a connection the client did not mark `secured`.
    PlaintextNotSecured,
    /// The initial or continued response was not base64.
    InvalidBase64,
    /// The decoded credentials do not have the mechanism's shape (or the username is not
    /// UTF-8, is empty, or too long).
    MalformedCredentials,
    /// PLAIN carried an authorization identity other than the user (a master-user login).
    AuthzidNotPermitted,
    /// `CONT` for a request that was not waiting for one.
    UnexpectedContinuation,
    /// `CONT` for an id with no request in progress.
    UnknownRequest,
}

impl Refusal {
    /// The `reason=` text.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnsupportedMechanism => "Unsupported authentication mechanism",
            Self::PlaintextNotSecured => {
                "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
            }
            Self::InvalidBase64 => "Invalid base64 data",
            Self::MalformedCredentials => "Invalid authentication data",
            Self::AuthzidNotPermitted => "Authorization identity not permitted",
            Self::UnexpectedContinuation => "Unexpected continuation",
            Self::UnknownRequest => "Authentication request timed out",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Protocol version we speak: 1.2, as Dovecot 2.3.
pub(crate) const MAJOR_VERSION: u32 = 1;
pub(crate) const MINOR_VERSION: u32 = 2;

/// The server handshake, in Dovecot 2.3's order.
pub(crate) fn handshake(
    out: &mut Vec<u8>,
    mechanisms: &[Mechanism],
    server_pid: u32,
    connection_uid: u32,
    cookie: &[u8; 16],
) {
    out.extend_from_slice(format!("VERSION\t{MAJOR_VERSION}\t{MINOR_VERSION}\n").as_bytes());
    for mechanism in mechanisms {
        let flags = if mechanism.is_plaintext() {
            "\tplaintext"
        } else {
            ""
        };
        out.extend_from_slice(format!("MECH\t{mechanism}{flags}\n").as_bytes());
    }
    let cookie: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
    out.extend_from_slice(
        format!("SPID\t{server_pid}\nCUID\t{connection_uid}\nCOOKIE\t{cookie}\nDONE\n").as_bytes(),
    );
}

/// `CONT TAB id TAB base64(challenge)`.
pub(crate) fn cont(out: &mut Vec<u8>, id: u32, challenge: &[u8]) {
    out.extend_from_slice(format!("CONT\t{id}\t{}\n", STANDARD.encode(challenge)).as_bytes());
}

/// `OK TAB id TAB user=name`.
pub(crate) fn ok(out: &mut Vec<u8>, id: u32, user: &str) {
    out.extend_from_slice(format!("OK\t{id}").as_bytes());
    field(out, "user", user.as_bytes());
    out.push(b'\n');
}

/// `FAIL TAB id [TAB code=..] [TAB reason=..] [TAB user=..]`.
pub(crate) fn fail(
    out: &mut Vec<u8>,
    id: u32,
    code: Option<&str>,
    reason: Option<&str>,
    user: Option<&str>,
) {
    out.extend_from_slice(format!("FAIL\t{id}").as_bytes());
    if let Some(code) = code {
        field(out, "code", code.as_bytes());
    }
    if let Some(reason) = reason {
        field(out, "reason", reason.as_bytes());
    }
    if let Some(user) = user {
        field(out, "user", user.as_bytes());
    }
    out.push(b'\n');
}

fn field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.push(b'\t');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    escape_into(value, out);
}
