//! The SASL mechanisms: PLAIN (RFC 4616) and LOGIN, as steps over decoded client data.

use std::fmt;

use crate::Secret;
use crate::reply::Refusal;

/// A SASL mechanism this server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616: `authzid NUL authcid NUL password` in one message.
    Plain,
    /// The de-facto LOGIN mechanism: "Username:" and "Password:" prompts.
    Login,
}

impl Mechanism {
    /// The name as announced in `MECH` lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
        }
    }

    /// Looks up a mechanism by name, case-insensitively (Postfix passes on what the SMTP
    /// client typed).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plain, Self::Login]
            .into_iter()
            .find(|mechanism| mechanism.name().eq_ignore_ascii_case(name))
    }

    /// Whether the mechanism sends the password in the clear (so it needs a secured channel).
    pub fn is_plaintext(self) -> bool {
        matches!(self, Self::Plain | Self::Login)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The LOGIN prompts, sent base64-encoded in `CONT` lines.
pub(crate) const LOGIN_USERNAME_PROMPT: &[u8] = b"Username:";
pub(crate) const LOGIN_PASSWORD_PROMPT: &[u8] = b"Password:";

/// Longest username accepted from a client; longer ones fail the request.
pub(crate) const MAX_USERNAME: usize = 255;

/// Where a mechanism stands in a request.
#[derive(Debug)]
pub(crate) enum MechState {
    /// PLAIN: the empty challenge was sent, the message comes next.
    PlainMessage,
    /// LOGIN: "Username:" was sent.
    LoginUsername,
    /// LOGIN: "Password:" was sent.
    LoginPassword { username: String },
}

/// What a mechanism wants next.
#[derive(Debug)]
pub(crate) enum MechStep {
    /// Send `CONT` with this challenge (raw, to be base64-encoded) and wait in this state.
    Challenge(&'static [u8], MechState),
    /// The credentials are complete.
    Credentials { username: String, password: Secret },
    /// The request fails.
    Refuse(Refusal),
}

/// The first step, with the decoded initial response if the client sent one.
pub(crate) fn start(mechanism: Mechanism, initial: Option<Vec<u8>>) -> MechStep {
    match (mechanism, initial) {
        (Mechanism::Plain, None) => MechStep::Challenge(b"", MechState::PlainMessage),
        (Mechanism::Plain, Some(message)) => plain(&message),
        (Mechanism::Login, None) => {
            MechStep::Challenge(LOGIN_USERNAME_PROMPT, MechState::LoginUsername)
        }
        // An empty initial response is no username yet: prompt for it (as Dovecot does).
        (Mechanism::Login, Some(data)) if data.is_empty() => {
            MechStep::Challenge(LOGIN_USERNAME_PROMPT, MechState::LoginUsername)
        }
        (Mechanism::Login, Some(data)) => login_username(data),
    }
}

/// The next step after the client's continuation data.
pub(crate) fn next(state: MechState, data: Vec<u8>) -> MechStep {
    match state {
        MechState::PlainMessage => plain(&data),
        MechState::LoginUsername => login_username(data),
        MechState::LoginPassword { username } => MechStep::Credentials {
            username,
            password: Secret::new(data),
        },
    }
}

fn login_username(data: Vec<u8>) -> MechStep {
    match username(data) {
        Ok(username) => {
            MechStep::Challenge(LOGIN_PASSWORD_PROMPT, MechState::LoginPassword { username })
        }
        Err(refusal) => MechStep::Refuse(refusal),
    }
}

/// `[authzid] NUL authcid NUL passwd`. An authorization identity other than the
/// authentication identity would be a master-user login, which this server does not offer.
fn plain(message: &[u8]) -> MechStep {
    let mut parts = message.splitn(3, |&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return MechStep::Refuse(Refusal::MalformedCredentials);
    };
    if password.contains(&0) {
        return MechStep::Refuse(Refusal::MalformedCredentials);
    }
    let username = match username(authcid.to_vec()) {
        Ok(username) => username,
        Err(refusal) => return MechStep::Refuse(refusal),
    };
    if !authzid.is_empty() && authzid != username.as_bytes() {
        return MechStep::Refuse(Refusal::AuthzidNotPermitted);
    }
    MechStep::Credentials {
        username,
        password: Secret::new(password.to_vec()),
    }
}

/// A username must be non-empty UTF-8 without NUL, and not absurdly long.
fn username(bytes: Vec<u8>) -> Result<String, Refusal> {
    if bytes.is_empty() || bytes.len() > MAX_USERNAME || bytes.contains(&0) {
        return Err(Refusal::MalformedCredentials);
    }
    String::from_utf8(bytes).map_err(|_| Refusal::MalformedCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(step: MechStep) -> (String, Vec<u8>) {
        match step {
            MechStep::Credentials { username, password } => (username, password.expose().to_vec()),
            other => panic!("expected credentials, got {other:?}"),
        }
    }

    #[test]
    fn plain_with_and_without_authzid() {
        let (user, pass) = credentials(plain(b"\0alice\0s3cret"));
        assert_eq!((user.as_str(), pass.as_slice()), ("alice", &b"s3cret"[..]));
        let (user, _) = credentials(plain(b"alice\0alice\0s3cret"));
        assert_eq!(user, "alice");
    }

    #[test]
    fn plain_refusals() {
        for (message, refusal) in [
            (&b"alice\0s3cret"[..], Refusal::MalformedCredentials),
            (b"\0\0s3cret", Refusal::MalformedCredentials),
            (b"\0alice\0s3\0cret", Refusal::MalformedCredentials),
            (b"\0\xff\0s3cret", Refusal::MalformedCredentials),
            (b"bob\0alice\0s3cret", Refusal::AuthzidNotPermitted),
        ] {
            match plain(message) {
                MechStep::Refuse(got) => assert_eq!(got, refusal, "{message:?}"),
                other => panic!("{message:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn mechanism_names_are_case_insensitive() {
        assert_eq!(Mechanism::from_name("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::from_name("Login"), Some(Mechanism::Login));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
    }
}
