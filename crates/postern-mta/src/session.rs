//! One SMTP connection: drives the sans-I/O `smtp` server session over a plain or TLS
//! stream, answers its policy events (HELO, AUTH, MAIL, RCPT, end of data) from the listener's
//! settings, the relay policy, the auth server, the recipient check and the milters, and
//! streams accepted mail into the queue. A 250 after DATA is sent only once the message and
//! its envelope are fsynced.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dovecot_auth::client::{AuthParams, SmtpAuth, SmtpAuthStep};
use runtime::accept::SessionId;
use runtime::tls::MaybeTls;
use smtp::{Event, Reply, ReplyError, ServerSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::block_in_place;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{Config, ListenerSettings, TlsMode};
use crate::policy::{self, Client, Recipient};
use crate::received::{self, Trace};
use crate::recipients::Verdict;
use crate::sasl::{self, SaslConnection};
use crate::server::Shared;
use crate::spool::{Draft, NewMessage, Origin};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// One accepted recipient of the open transaction.
#[derive(Debug, Clone)]
pub struct AcceptedRecipient {
    /// As given in RCPT TO (for the log and DSN's Original-Recipient).
    pub given: String,
    /// Where it goes after alias expansion: local addresses (LMTP) or one remote address.
    pub targets: Vec<String>,
    pub params: smtp::RcptParams,
}

/// The transaction between MAIL and the end of data.
#[derive(Debug, Default)]
struct Transaction {
    /// MAIL FROM without brackets, "" for `<>`.
    sender: String,
    params: Option<smtp::MailParams>,
    recipients: Vec<AcceptedRecipient>,
    draft: Option<Draft>,
    /// A write to the queue failed: the end of data gets 451.
    failed: Option<String>,
}

struct Connection {
    id: SessionId,
    shared: Arc<Shared>,
    config: Arc<Config>,
    listener: Arc<ListenerSettings>,
    client: Client,
    client_port: Option<u16>,
    local_ip: Option<IpAddr>,
    helo: String,
    esmtp: bool,
    tls: Option<(String, String)>,
    sasl: Option<SaslConnection>,
    exchange: Option<SmtpAuth>,
    /// STARTTLS was answered 220: upgrade before reading again.
    starttls_pending: bool,
    transaction: Transaction,
}

/// Serves one connection until QUIT, an error, a timeout, or shutdown (421 between
/// transactions).
pub async fn serve(
    mut stream: MaybeTls,
    peer: Option<std::net::SocketAddr>,
    local_ip: Option<IpAddr>,
    id: SessionId,
    listener: Arc<ListenerSettings>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let config = shared.config.load();
    let mut session = ServerSession::new(smtp_settings(&config, &listener, shared.tls.is_some()));
    let mut connection = Connection {
        id,
        shared: shared.clone(),
        config: config.clone(),
        listener: listener.clone(),
        client: Client {
            ip: peer.map(|p| p.ip()),
            login: None,
        },
        client_port: peer.map(|p| p.port()),
        local_ip,
        helo: String::new(),
        esmtp: false,
        tls: None,
        sasl: None,
        exchange: None,
        starttls_pending: false,
        transaction: Transaction::default(),
    };
    if let Some(info) = stream.tls_info() {
        session.set_tls_active();
        connection.tls = Some((info.version.to_string(), info.cipher.to_string()));
    }
    info!(session = %id, listener = %listener.name, client = %peer.map_or("local".into(), |p| p.to_string()), tls = stream.is_tls(), "connect");
    session.greet();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = flush(&mut stream, &mut session).await {
            debug!(session = %id, error = %e, "closing: write failed");
            break;
        }
        if session.is_closed() {
            break;
        }
        if connection.starttls_pending {
            connection.starttls_pending = false;
            let Some(tls) = &shared.tls else { break };
            stream = match stream.upgrade(&tls.acceptor(), HANDSHAKE_TIMEOUT).await {
                Ok(upgraded) => upgraded,
                Err(e) => {
                    info!(session = %id, error = %e, "TLS handshake failed");
                    break;
                }
            };
            if let Some(info) = stream.tls_info() {
                info!(session = %id, version = info.version, cipher = info.cipher, "STARTTLS");
                connection.tls = Some((info.version.to_string(), info.cipher.to_string()));
            }
            continue;
        }
        let timeout = if connection.transaction.draft.is_some() {
            config.limits.data_timeout
        } else {
            config.limits.command_timeout
        };
        let in_transaction = connection.transaction.params.is_some();
        let read = tokio::select! {
            read = tokio::time::timeout(timeout, stream.read(&mut buffer)) => read,
            () = shutdown.cancelled(), if !in_transaction => {
                session.shutdown();
                let _ = flush(&mut stream, &mut session).await;
                info!(session = %id, "closed for shutdown");
                break;
            }
        };
        let n = match read {
            Err(_) => {
                info!(session = %id, timeout = ?timeout, "closing: client idle too long");
                let _ = stream
                    .write_all(
                        &Reply::new(
                            421,
                            Some((4, 4, 2)),
                            format!("{} Error: timeout exceeded", config.hostname),
                        )
                        .to_bytes(),
                    )
                    .await;
                break;
            }
            Ok(Err(e)) => {
                debug!(session = %id, error = %e, "closing: read failed");
                break;
            }
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
        };
        session.receive(buffer.get(..n).unwrap_or_default());
        while let Some(event) = session.next_event() {
            connection.handle(event, &mut session).await;
            if connection.starttls_pending {
                break;
            }
        }
    }
    connection.end();
    info!(session = %id, "disconnect");
}

/// The smtp crate's settings for this listener.
fn smtp_settings(
    config: &Config,
    listener: &ListenerSettings,
    tls_available: bool,
) -> smtp::Settings {
    let mut settings = smtp::Settings::smtp(config.hostname.clone());
    settings.max_line_length = config.limits.max_line_length;
    settings.max_recipients = config.limits.max_recipients;
    settings.max_message_size = config.limits.max_message_size;
    settings.max_errors = config.limits.max_errors;
    settings.extensions.starttls = listener.tls == TlsMode::StartTls && tls_available;
    settings.extensions.dsn = true;
    if listener.auth {
        settings.auth_mechanisms = config.auth_mechanisms.clone();
    }
    // AUTH only under TLS (Postfix's smtpd_tls_auth_only), always.
    settings.auth_requires_tls = true;
    if config.limits.reject_bare_line_ends {
        settings.bare_line_ends_in_data = smtp::BareLineEndsInData::Reject;
    }
    settings
}

async fn flush(stream: &mut MaybeTls, session: &mut ServerSession) -> std::io::Result<()> {
    if session.has_output() {
        let bytes = session.output();
        stream.write_all(&bytes).await?;
        stream.flush().await?;
    }
    Ok(())
}

impl Connection {
    async fn handle(&mut self, event: Event, session: &mut ServerSession) {
        let result = match event {
            Event::Hello { verb, host } => {
                let reply = match self.config.policy.helo(&host, self.listener.strict_helo) {
                    Ok(()) => {
                        self.helo = policy::printable(&host);
                        self.esmtp = !matches!(verb, smtp::HelloVerb::Helo);
                        None
                    }
                    Err(reply) => {
                        info!(session = %self.id, helo = %policy::printable(&host), result = reply.code, "HELO refused");
                        Some(reply)
                    }
                };
                self.transaction = Transaction::default();
                answer(session, reply)
            }
            Event::StartTls => {
                if self.shared.tls.is_some() {
                    self.starttls_pending = true;
                    session.accept()
                } else {
                    session.reply(Reply::tls_not_available())
                }
            }
            Event::Auth { mechanism, initial } => {
                self.auth_start(&mechanism, initial, session).await
            }
            Event::AuthResponse(line) => {
                let step = match (&mut self.sasl, &mut self.exchange) {
                    (Some(sasl), Some(exchange)) => sasl.respond(exchange, line.expose()).await,
                    _ => {
                        SmtpAuthStep::Failed(dovecot_auth::client::SmtpAuthFailure::InvalidResponse)
                    }
                };
                self.auth_step(step, "", session)
            }
            Event::AuthCancelled => {
                if let (Some(sasl), Some(exchange)) = (&mut self.sasl, &mut self.exchange) {
                    sasl.cancel(exchange);
                }
                self.exchange = None;
                Ok(())
            }
            Event::Mail {
                from,
                flags,
                params,
            } => {
                let reply = self.mail(&from, flags, &params, session);
                if reply.is_none() {
                    self.transaction = Transaction {
                        sender: from
                            .mailbox()
                            .map(|m| format!("{}@{}", m.local_part, m.host))
                            .unwrap_or_default(),
                        params: Some(params),
                        ..Transaction::default()
                    };
                }
                answer(session, reply)
            }
            Event::Rcpt { to, flags, params } => {
                let reply = self.rcpt(&to, flags, params).await;
                answer(session, reply)
            }
            Event::DataStart => {
                self.data_start();
                Ok(())
            }
            Event::DataChunk(chunk) => {
                if let Some(draft) = &mut self.transaction.draft
                    && self.transaction.failed.is_none()
                    && let Err(e) = block_in_place(|| draft.write(&chunk))
                {
                    self.transaction.failed = Some(e.to_string());
                }
                Ok(())
            }
            Event::DataEnd { size } => {
                let reply = self.data_end(size, session);
                session.reply(reply)
            }
            Event::DataAborted(why) => {
                info!(session = %self.id, from = %self.transaction.sender, reason = ?why, "message refused");
                self.transaction = Transaction::default();
                Ok(())
            }
            Event::Reset => {
                self.transaction = Transaction::default();
                Ok(())
            }
            Event::Vrfy(_) => session.accept(),
            Event::Quit => Ok(()),
        };
        if let Err(e) = result {
            warn!(session = %self.id, error = %e, "no reply pending");
        }
    }

    async fn auth_start(
        &mut self,
        mechanism: &str,
        initial: Option<smtp::Secret>,
        session: &mut ServerSession,
    ) -> Result<(), ReplyError> {
        let Some(address) = self.config.auth_socket.clone() else {
            return session.reply(Reply::auth_mechanism_unknown());
        };
        if self.sasl.is_none() {
            match SaslConnection::connect(&address).await {
                Ok(sasl) => self.sasl = Some(sasl),
                Err(e) => {
                    warn!(session = %self.id, error = %e, "auth server unavailable");
                    return session.reply(Reply::new(
                        454,
                        Some((4, 7, 0)),
                        "Temporary authentication failure",
                    ));
                }
            }
        }
        let Some(sasl) = &mut self.sasl else {
            return session.reply(Reply::local_error());
        };
        let mut params = AuthParams::new("smtp");
        params.secured = self.tls.is_some();
        params.remote_ip = self.client.ip;
        params.remote_port = self.client_port;
        params.local_ip = self.local_ip;
        params.session = Some(self.id.to_string());
        let initial = initial.map(|s| s.expose().to_string());
        let (exchange, step) = sasl.start(mechanism, initial.as_deref(), &params).await;
        self.exchange = Some(exchange);
        self.auth_step(step, mechanism, session)
    }

    fn auth_step(
        &mut self,
        step: SmtpAuthStep,
        mechanism: &str,
        session: &mut ServerSession,
    ) -> Result<(), ReplyError> {
        match step {
            SmtpAuthStep::Challenge(text) => session.reply(Reply::auth_challenge(&text)),
            SmtpAuthStep::Authenticated(success) => {
                self.exchange = None;
                info!(session = %self.id, user = %success.user, mechanism, client = ?self.client.ip, "authenticated");
                self.client.login = Some(success.user);
                session.accept()
            }
            SmtpAuthStep::Failed(failure) => {
                self.exchange = None;
                let reply = sasl::failure_reply(&failure);
                info!(session = %self.id, client = ?self.client.ip, reason = ?failure.reason(), result = reply.code, "authentication failed");
                session.reply(reply)
            }
            SmtpAuthStep::ToServer(_) => session.reply(Reply::local_error()),
        }
    }

    fn mail(
        &mut self,
        from: &smtp::ReversePath,
        flags: smtp::PathFlags,
        _params: &smtp::MailParams,
        session: &ServerSession,
    ) -> Option<Reply> {
        if self.listener.require_tls && !session.is_tls() {
            return Some(Reply::encryption_required());
        }
        if self.listener.require_auth && self.client.login.is_none() {
            return Some(Reply::auth_required());
        }
        if let Err(reply) =
            self.config
                .policy
                .sender(&self.client, from, flags, self.listener.sender_login_check)
        {
            info!(session = %self.id, from = %from, login = ?self.client.login, result = reply.code, "sender refused");
            return Some(reply);
        }
        None
    }

    async fn rcpt(
        &mut self,
        to: &smtp::ForwardPath,
        flags: smtp::PathFlags,
        params: smtp::RcptParams,
    ) -> Option<Reply> {
        let given = to.to_string();
        let targets = match self.config.policy.recipient(&self.client, to, flags) {
            Ok(Recipient::Remote(address)) => vec![address],
            Ok(Recipient::Local(targets)) => {
                for target in &targets {
                    match self.shared.recipients.check(target).await {
                        Verdict::Exists => {}
                        Verdict::Refused(reply) => {
                            let text = reply.text.join(" ");
                            info!(session = %self.id, from = %self.transaction.sender, to = %given, target = %target, result = reply.code, "recipient refused by the mailbox server: {text}");
                            return Some(Reply::new(
                                reply.code,
                                reply.enhanced.or(Some((5, 1, 1))),
                                format!("{given}: Recipient address rejected: {text}"),
                            ));
                        }
                        Verdict::TempFail(text) => {
                            warn!(session = %self.id, to = %given, target = %target, "recipient check failed: {text}");
                            return Some(Reply::new(
                                451,
                                Some((4, 3, 0)),
                                format!(
                                    "{given}: Recipient address rejected: temporary lookup failure"
                                ),
                            ));
                        }
                    }
                }
                targets
            }
            Err(reply) => {
                info!(session = %self.id, from = %self.transaction.sender, to = %given, client = ?self.client.ip, result = reply.code, "recipient refused");
                return Some(reply);
            }
        };
        self.transaction.recipients.push(AcceptedRecipient {
            given,
            targets,
            params,
        });
        None
    }

    fn data_start(&mut self) {
        let transaction = &mut self.transaction;
        let message = NewMessage {
            sender: transaction.sender.clone(),
            params: transaction.params.clone().unwrap_or_default(),
            recipients: transaction.recipients.clone(),
            origin: Origin {
                client_ip: self.client.ip,
                helo: self.helo.clone(),
                login: self.client.login.clone(),
                listener: self.listener.name.clone(),
                tls: self.tls.is_some(),
                protocol: received::protocol(
                    self.esmtp,
                    self.tls.is_some(),
                    self.client.login.is_some(),
                )
                .to_string(),
            },
        };
        match block_in_place(|| self.shared.spool.begin(&message)) {
            Ok(mut draft) => {
                let single = match transaction.recipients.as_slice() {
                    [only] => Some(
                        only.given
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string(),
                    ),
                    _ => None,
                };
                let trace = Trace {
                    helo: if self.helo.is_empty() {
                        "unknown"
                    } else {
                        &self.helo
                    },
                    client_ip: self.client.ip,
                    client_name: None,
                    hostname: &self.config.hostname,
                    esmtp: self.esmtp,
                    tls: self.tls.as_ref().map(|(v, c)| (v.as_str(), c.as_str())),
                    authenticated: self.client.login.is_some(),
                    queue_id: draft.id(),
                    single_recipient: single.as_deref(),
                };
                let header = format!(
                    "Received: {}\r\n",
                    received::received_value(&trace, SystemTime::now())
                );
                if let Err(e) = block_in_place(|| draft.write(header.as_bytes())) {
                    transaction.failed = Some(e.to_string());
                }
                transaction.draft = Some(draft);
            }
            Err(e) => {
                warn!(session = %self.id, error = %e, "cannot queue");
                transaction.failed = Some(e.to_string());
            }
        }
    }

    fn data_end(&mut self, size: u64, session: &ServerSession) -> Reply {
        let transaction = std::mem::take(&mut self.transaction);
        let _ = session;
        if let Some(reason) = transaction.failed {
            warn!(session = %self.id, from = %transaction.sender, "message not queued: {reason}");
            return Reply::new(451, Some((4, 3, 0)), "Error: queue file write error");
        }
        let Some(draft) = transaction.draft else {
            return Reply::local_error();
        };
        match block_in_place(|| self.shared.spool.commit(draft)) {
            Ok(queue_id) => {
                let to: Vec<&str> = transaction
                    .recipients
                    .iter()
                    .map(|r| r.given.as_str())
                    .collect();
                info!(
                    session = %self.id, queue_id = %queue_id, from = %format!("<{}>", transaction.sender),
                    to = %to.join(","), size, login = ?self.client.login, "queued"
                );
                self.shared.scheduler.wake(&queue_id);
                Reply::ok_queued(&queue_id.to_string())
            }
            Err(e) => {
                warn!(session = %self.id, from = %transaction.sender, error = %e, "message not queued");
                Reply::new(451, Some((4, 3, 0)), "Error: queue file write error")
            }
        }
    }

    /// The connection ended: an unfinished message is dropped (its files removed), an
    /// unfinished AUTH abandoned.
    fn end(&mut self) {
        if let (Some(sasl), Some(exchange)) = (&mut self.sasl, &mut self.exchange) {
            sasl.cancel(exchange);
        }
        self.transaction = Transaction::default();
    }
}

/// `None` accepts the awaited event with the session's default reply.
fn answer(session: &mut ServerSession, reply: Option<Reply>) -> Result<(), ReplyError> {
    match reply {
        None => session.accept(),
        Some(reply) => session.reply(reply),
    }
}
