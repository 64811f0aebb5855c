//! [`SmtpAuth`]: one SMTP `AUTH` exchange (RFC 4954) relayed to the auth server, as Postfix's
//! `smtpd_sasl_type = dovecot` does. The exchange does not know the mechanism: PLAIN, LOGIN
//! and the rest are the server's business; the SMTP client's responses go to it, and its
//! challenges come back as `334` lines.
//!
//! ```text
//! SMTP C: AUTH LOGIN                 start      → ToServer("AUTH 1 LOGIN service=smtp ...")
//!                                    on_reply(CONT 1 VXNlcm5hbWU6) → Challenge("VXNlcm5hbWU6")
//! SMTP S: 334 VXNlcm5hbWU6
//! SMTP C: YWxpY2U=                   on_response → ToServer("CONT 1 YWxpY2U=")
//!                                    on_reply(CONT 1 UGFzc3dvcmQ6) → Challenge(..)
//! SMTP S: 334 UGFzc3dvcmQ6
//! SMTP C: c2VjcmV0                   on_response → ToServer("CONT 1 c2VjcmV0")
//!                                    on_reply(OK 1 user=alice) → Authenticated(alice)
//! SMTP S: 235 2.7.0 Authentication successful
//! ```
//!
//! Data from the SMTP client is decoded and encoded again before it goes to the server, so
//! nothing but canonical base64 reaches the auth protocol (a TAB in it would be a new field,
//! and invalid base64 makes Dovecot drop the whole connection).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::connection::{AuthClient, Outcome, ServerReply};
use super::reply::{AuthFailure, AuthSuccess, decode};
use super::request::AuthParams;
use super::{RequestError, ServerError};
use crate::Secret;

/// What to do next in an SMTP AUTH exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpAuthStep {
    /// Write these bytes to the auth server, then read from it until
    /// [`AuthClient::next_event`] gives the [`ServerReply`] for [`SmtpAuth::id`], and pass
    /// that to [`SmtpAuth::on_reply`]. They carry credentials, hence [`Secret`].
    ToServer(Secret),
    /// Reply `334 <challenge>` (base64, possibly empty) to the SMTP client and pass its next
    /// line to [`SmtpAuth::on_response`].
    Challenge(String),
    /// Reply `235 2.7.0`: the session is authenticated as `user`. The exchange is over.
    Authenticated(AuthSuccess),
    /// Reply with the failure's code. The exchange is over.
    Failed(SmtpAuthFailure),
}

/// Why an exchange failed, and so which SMTP reply it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpAuthFailure {
    /// `504 5.5.4`: the auth server does not offer the mechanism.
    UnsupportedMechanism,
    /// `501 5.5.2`: a response that is not base64 (RFC 4954 section 4), or too long to pass
    /// on. Nothing was sent for it.
    InvalidResponse,
    /// `535 5.7.8`: the auth server refused (wrong password, unknown user, plaintext on an
    /// unsecured connection...). Dovecot has delayed this answer already.
    Rejected(AuthFailure),
    /// `454 4.7.0`: the auth server failed internally (`code=temp_fail`).
    Temporary(AuthFailure),
    /// `454 4.7.0`: the auth server cannot be asked: not connected yet, handshake not done,
    /// connection broken or closed, all request slots busy.
    Unavailable(RequestError),
}

impl SmtpAuthFailure {
    /// Whether the SMTP client should be told to try again later (4xx).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Temporary(_) | Self::Unavailable(_))
    }

    /// The auth server's `reason=`, if it gave one: printable, short, safe to append to the
    /// SMTP reply text as Postfix does (`535 5.7.8 Error: authentication failed: <reason>`).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Rejected(failure) | Self::Temporary(failure) => failure.reason.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug)]
enum State {
    /// A line went to the server; its reply comes next.
    AwaitingServer,
    /// A challenge went to the SMTP client; its response comes next.
    AwaitingClient,
    /// The server said OK with final data, sent as a challenge; the client's (empty)
    /// response finishes the exchange without asking the server again.
    FinalData(Box<AuthSuccess>),
    Done,
}

/// One SMTP AUTH exchange. Create it with [`SmtpAuth::start`] for the session's `AUTH`
/// command; follow the [`SmtpAuthStep`]s until `Authenticated` or `Failed`.
#[derive(Debug)]
pub struct SmtpAuth {
    id: Option<u32>,
    state: State,
}

impl SmtpAuth {
    /// Starts an exchange for `AUTH <mechanism> [<initial>]`: `initial` is the base64 text as
    /// the SMTP client sent it, `=` for an empty response.
    pub fn start(
        client: &mut AuthClient,
        mechanism: &str,
        initial: Option<&str>,
        params: &AuthParams,
    ) -> (Self, SmtpAuthStep) {
        let mut exchange = Self {
            id: None,
            state: State::Done,
        };
        if client.is_ready() && client.mechanism(mechanism).is_none() {
            let failure = SmtpAuthFailure::UnsupportedMechanism;
            return (exchange, SmtpAuthStep::Failed(failure));
        }
        let initial = match initial.map(decode_response) {
            None => None,
            Some(Some(data)) => Some(data),
            Some(None) => {
                return (
                    exchange,
                    SmtpAuthStep::Failed(SmtpAuthFailure::InvalidResponse),
                );
            }
        };
        let begun = client.begin(
            mechanism,
            params,
            initial.as_ref().map(|data| data.expose()),
        );
        let step = match begun {
            Ok(id) => {
                exchange.id = Some(id);
                exchange.state = State::AwaitingServer;
                SmtpAuthStep::ToServer(Secret::new(client.output()))
            }
            Err(error) => SmtpAuthStep::Failed(refused(error)),
        };
        (exchange, step)
    }

    /// The request id at the auth server, once one was sent.
    pub fn id(&self) -> Option<u32> {
        self.id
    }

    /// Whether the exchange is over (authenticated, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The server's reply for this exchange's request. A reply while the exchange waits for
    /// the SMTP client (a `FAIL` the server sent on its own) is refused with
    /// [`RequestError::OutOfTurn`]; the client's next response then ends the exchange as
    /// [`SmtpAuthFailure::Unavailable`], since SMTP has no way to answer before it.
    pub fn on_reply(&mut self, reply: ServerReply) -> Result<SmtpAuthStep, RequestError> {
        if self.id != Some(reply.id) {
            return Err(RequestError::WrongRequest {
                expected: self.id.unwrap_or_default(),
                got: reply.id,
            });
        }
        if !matches!(self.state, State::AwaitingServer) {
            return Err(RequestError::OutOfTurn);
        }
        self.state = State::Done;
        Ok(match reply.outcome {
            Outcome::Continue(challenge) => {
                self.state = State::AwaitingClient;
                SmtpAuthStep::Challenge(STANDARD.encode(challenge))
            }
            Outcome::Success(mut success) => match success.final_data.take() {
                Some(data) => {
                    self.state = State::FinalData(Box::new(success));
                    SmtpAuthStep::Challenge(STANDARD.encode(data))
                }
                None => SmtpAuthStep::Authenticated(success),
            },
            Outcome::Failure(failure) if failure.temporary => {
                SmtpAuthStep::Failed(SmtpAuthFailure::Temporary(failure))
            }
            Outcome::Failure(failure) => SmtpAuthStep::Failed(SmtpAuthFailure::Rejected(failure)),
        })
    }

    /// The SMTP client's line after a `334` (base64 text; `*` is the session's business: it
    /// cancels, see [`cancel`](Self::cancel)).
    pub fn on_response(
        &mut self,
        client: &mut AuthClient,
        response: &str,
    ) -> Result<SmtpAuthStep, RequestError> {
        let id = match (&self.state, self.id) {
            (State::AwaitingClient, Some(id)) => id,
            (State::FinalData(_), _) => {
                let State::FinalData(success) = std::mem::replace(&mut self.state, State::Done)
                else {
                    return Err(RequestError::OutOfTurn);
                };
                // The client has nothing to add after the server's final data (RFC 4954 4).
                return Ok(match decode_response(response) {
                    Some(data) if data.expose().is_empty() => SmtpAuthStep::Authenticated(*success),
                    _ => SmtpAuthStep::Failed(SmtpAuthFailure::InvalidResponse),
                });
            }
            _ => return Err(RequestError::OutOfTurn),
        };
        let Some(data) = decode_response(response) else {
            self.cancel(client);
            return Ok(SmtpAuthStep::Failed(SmtpAuthFailure::InvalidResponse));
        };
        Ok(match client.respond(id, data.expose()) {
            Ok(()) => {
                self.state = State::AwaitingServer;
                SmtpAuthStep::ToServer(Secret::new(client.output()))
            }
            Err(error) => {
                self.cancel(client);
                SmtpAuthStep::Failed(refused(error))
            }
        })
    }

    /// The SMTP client cancelled (`*`) or went away: the request is given up at the client
    /// (nothing is sent to the server). Harmless when the exchange is over.
    pub fn cancel(&mut self, client: &mut AuthClient) {
        if !self.is_finished()
            && let Some(id) = self.id
        {
            client.abandon(id);
        }
        self.state = State::Done;
    }

    /// The auth connection broke (a [`ServerError`] from [`AuthClient::next_event`], end of
    /// file, a timeout) while this exchange waited: it ends with a temporary failure.
    pub fn connection_failed(&mut self, error: ServerError) -> SmtpAuthStep {
        self.state = State::Done;
        SmtpAuthStep::Failed(SmtpAuthFailure::Unavailable(
            RequestError::ConnectionFailed(error),
        ))
    }
}

/// The client's base64, decoded; `=` is the empty response (RFC 4954 4). `None`: not base64.
fn decode_response(text: &str) -> Option<Secret> {
    if text == "=" {
        return Some(Secret::new(Vec::new()));
    }
    decode(text.as_bytes()).map(Secret::new)
}

fn refused(error: RequestError) -> SmtpAuthFailure {
    match error {
        RequestError::UnsupportedMechanism(_) => SmtpAuthFailure::UnsupportedMechanism,
        RequestError::LineTooLong { .. } => SmtpAuthFailure::InvalidResponse,
        other => SmtpAuthFailure::Unavailable(other),
    }
}
