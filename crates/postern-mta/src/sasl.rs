//! SMTP AUTH through a Dovecot-protocol auth socket (postern-mda's or a real Dovecot's), as
//! Postfix's `smtpd_sasl_type = dovecot`: one auth connection per SMTP session, opened at the
//! first AUTH, every read under a timeout.

use std::time::Duration;

use dovecot_auth::client::{
    AuthClient, AuthParams, ClientEvent, ClientOptions, ServerError, SmtpAuth, SmtpAuthFailure,
    SmtpAuthStep,
};
use runtime::listen::{ListenAddress, Stream};
use smtp::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the auth server may take for one answer (Dovecot delays failures by 2 s).
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the auth server, past its handshake.
#[derive(Debug)]
pub struct SaslConnection {
    stream: Stream,
    client: AuthClient,
}

impl SaslConnection {
    /// Connects and completes the handshake.
    pub async fn connect(address: &ListenAddress) -> Result<SaslConnection, String> {
        let stream = runtime::listen::connect(address, AUTH_TIMEOUT)
            .await
            .map_err(|e| format!("auth server {address}: {e}"))?;
        let mut connection = SaslConnection {
            stream,
            client: AuthClient::new(ClientOptions::new(std::process::id())),
        };
        let greeting = connection.client.output();
        connection
            .stream
            .write_all(&greeting)
            .await
            .map_err(|e| format!("auth server {address}: {e}"))?;
        match connection.next_event().await {
            Ok(ClientEvent::Ready) => Ok(connection),
            Ok(ClientEvent::Reply(_)) => {
                Err(format!("auth server {address}: reply before handshake"))
            }
            Err(e) => Err(format!("auth server {address}: {e}")),
        }
    }

    async fn next_event(&mut self) -> Result<ClientEvent, ServerError> {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(event) = self.client.next_event()? {
                return Ok(event);
            }
            match tokio::time::timeout(AUTH_TIMEOUT, self.stream.read(&mut buffer)).await {
                Err(_) => self.client.close(ServerError::TimedOut),
                Ok(Ok(0) | Err(_)) => self.client.close(ServerError::Closed),
                Ok(Ok(n)) => self.client.receive(buffer.get(..n).unwrap_or_default()),
            }
        }
    }

    /// Starts `AUTH mechanism [initial]` and runs it until it needs the SMTP client or ends.
    pub async fn start(
        &mut self,
        mechanism: &str,
        initial: Option<&str>,
        params: &AuthParams,
    ) -> (SmtpAuth, SmtpAuthStep) {
        let (mut exchange, step) = SmtpAuth::start(&mut self.client, mechanism, initial, params);
        let step = self.drive(&mut exchange, step).await;
        (exchange, step)
    }

    /// The SMTP client's line after a 334.
    pub async fn respond(&mut self, exchange: &mut SmtpAuth, line: &str) -> SmtpAuthStep {
        let step = match exchange.on_response(&mut self.client, line) {
            Ok(step) => step,
            Err(e) => SmtpAuthStep::Failed(SmtpAuthFailure::Unavailable(e)),
        };
        self.drive(exchange, step).await
    }

    /// The SMTP client cancelled or left.
    pub fn cancel(&mut self, exchange: &mut SmtpAuth) {
        exchange.cancel(&mut self.client);
    }

    async fn drive(&mut self, exchange: &mut SmtpAuth, mut step: SmtpAuthStep) -> SmtpAuthStep {
        loop {
            let SmtpAuthStep::ToServer(bytes) = step else {
                return step;
            };
            if let Err(e) = self.stream.write_all(bytes.expose()).await {
                tracing::warn!(error = %e, "auth server write failed");
                return exchange.connection_failed(ServerError::Closed);
            }
            step = match self.next_event().await {
                Ok(ClientEvent::Reply(reply)) => match exchange.on_reply(reply) {
                    Ok(step) => step,
                    Err(e) => SmtpAuthStep::Failed(SmtpAuthFailure::Unavailable(e)),
                },
                Ok(ClientEvent::Ready) => exchange.connection_failed(ServerError::Closed),
                Err(e) => exchange.connection_failed(e),
            };
        }
    }
}

/// The SMTP reply for a failed exchange (RFC 4954 6).
pub fn failure_reply(failure: &SmtpAuthFailure) -> Reply {
    match failure {
        SmtpAuthFailure::UnsupportedMechanism => Reply::auth_mechanism_unknown(),
        SmtpAuthFailure::InvalidResponse => {
            Reply::new(501, Some((5, 5, 2)), "Cannot decode response")
        }
        SmtpAuthFailure::Rejected(_) => Reply::auth_failed(),
        SmtpAuthFailure::Temporary(_) | SmtpAuthFailure::Unavailable(_) => {
            Reply::new(454, Some((4, 7, 0)), "Temporary authentication failure")
        }
    }
}
