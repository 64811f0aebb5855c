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

use crate::client_dns::ClientName;
use crate::config::{Config, ListenerSettings, TlsMode};
use crate::filter::{self, Filtered};
use crate::milter::{
    ConnectInfo, MailMacros, MilterChain, Modification, Route, TlsInfo as MilterTls, Verdict,
    apply_header_changes_with_hidden,
};
use crate::policy::{self, Client, Recipient};
use crate::received::{self, Trace};
use crate::recipients::Verdict as Lookup;
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

/// Who submitted over the local socket, as the kernel reports it (SO_PEERCRED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    pub uid: u32,
    /// The uid's login name, if it has one.
    pub name: Option<String>,
}

impl std::fmt::Display for LocalUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "uid={} ({name})", self.uid),
            None => write!(f, "uid={}", self.uid),
        }
    }
}

/// The transaction between MAIL and the end of data.
#[derive(Debug, Default)]
struct Transaction {
    /// MAIL FROM without brackets, "" for `<>`.
    sender: String,
    params: Option<smtp::MailParams>,
    recipients: Vec<AcceptedRecipient>,
    draft: Option<Draft>,
    /// The message passes through milters: kept here until they have seen it.
    filtered: Option<Filtered>,
    /// A milter said DISCARD: accept, then drop.
    discard: bool,
    /// A write to the queue failed: the end of data gets 451.
    failed: Option<String>,
    /// Our Received header's value, written after the milters are done.
    received: String,
}

struct Connection {
    id: SessionId,
    shared: Arc<Shared>,
    config: Arc<Config>,
    listener: Arc<ListenerSettings>,
    client: Client,
    client_port: Option<u16>,
    local_ip: Option<IpAddr>,
    /// For the local submission socket: who is submitting.
    local_user: Option<LocalUser>,
    /// The network client's DNS names.
    client_name: ClientName,
    helo: String,
    esmtp: bool,
    tls: Option<(String, String)>,
    sasl: Option<SaslConnection>,
    exchange: Option<SmtpAuth>,
    /// STARTTLS was answered 220: upgrade before reading again.
    starttls_pending: bool,
    /// The SASL mechanism of the successful AUTH (`{auth_type}`).
    auth_mechanism: Option<String>,
    /// The listener's milters, if it has any.
    milters: Option<MilterChain>,
    /// A milter asked to close the connection (421): close after the reply.
    closing: bool,
    /// Said instead of everything queued, then the connection closes.
    last_words: Option<Reply>,
    transaction: Transaction,
}

/// Serves one connection until QUIT, an error, a timeout, or shutdown (421 between
/// transactions).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    mut stream: MaybeTls,
    peer: Option<std::net::SocketAddr>,
    local_ip: Option<IpAddr>,
    local_user: Option<LocalUser>,
    id: SessionId,
    listener: Arc<ListenerSettings>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let config = shared.config.load();
    let mut session = ServerSession::new(smtp_settings(&config, &listener, shared.tls.is_some()));
    // Looked up before the greeting, as Postfix does: the milters see the name at connect.
    let client_name = match (peer, &shared.dns) {
        (Some(peer), Some(dns)) => dns.lookup(peer.ip()).await,
        _ => ClientName::NotLooked,
    };
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
        local_user: local_user.clone(),
        client_name: client_name.clone(),
        helo: String::new(),
        esmtp: false,
        tls: None,
        sasl: None,
        exchange: None,
        starttls_pending: false,
        auth_mechanism: None,
        milters: None,
        closing: false,
        last_words: None,
        transaction: Transaction::default(),
    };
    if !listener.milters.is_empty() {
        let settings: Vec<_> = listener
            .milters
            .iter()
            .filter_map(|name| config.milters.iter().find(|m| &m.name == name).cloned())
            .collect();
        let info = ConnectInfo {
            hostname: config.hostname.clone(),
            daemon_name: listener.name.clone(),
            daemon_addr: local_ip.map(|ip| std::net::SocketAddr::new(ip, 0)),
            client_addr: peer,
            client_name: client_name.verified().map(str::to_string),
            client_ptr: client_name.ptr().map(str::to_string),
        };
        let (mut chain, verdict) = MilterChain::connect(&settings, &info).await;
        chain.set_spool_dir(config.queue.directory.clone());
        chain.set_max_replacement_body(config.limits.max_message_size.unwrap_or(u64::MAX));
        if let Verdict::Disconnect(reply) = &verdict {
            info!(session = %id, "milter refused the connection");
            let _ = stream
                .write_all(&filter::smtp_reply(reply).to_bytes())
                .await;
            return;
        }
        connection.milters = Some(chain);
    }
    if let Some(info) = stream.tls_info() {
        session.set_tls_active();
        connection.tls_established(&info);
    }
    let client = match (&peer, &local_user) {
        (Some(p), _) => p.to_string(),
        (None, Some(user)) => user.to_string(),
        (None, None) => "local".into(),
    };
    let name = match &client_name {
        ClientName::Verified(name) => name.clone(),
        ClientName::Unverified(ptr) => format!("unknown (PTR {ptr} does not match)"),
        ClientName::None => "unknown (no PTR)".into(),
        ClientName::TempFail => "unknown (DNS failure)".into(),
        ClientName::NotLooked => "-".into(),
    };
    info!(session = %id, listener = %listener.name, client = %client, name = %name, tls = stream.is_tls(), "connect");
    session.greet();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if let Some(reply) = connection.last_words.take() {
            let _ = session.output();
            let _ = stream.write_all(&reply.to_bytes()).await;
            break;
        }
        if let Err(e) = flush(&mut stream, &mut session).await {
            debug!(session = %id, error = %e, "closing: write failed");
            break;
        }
        if session.is_closed() || connection.closing {
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
                connection.tls_established(&info);
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
            if connection.starttls_pending || connection.last_words.is_some() {
                break;
            }
        }
    }
    connection.end().await;
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
    // The sendmail command already turned LF into CRLF; a lone CR it passes is content, as
    // with Postfix's sendmail. Smuggling needs a network client.
    if config.limits.reject_bare_line_ends && !listener.local_submission {
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
                // Like `smtpd_helo_restrictions = permit_mynetworks, reject_non_fqdn_helo_hostname`:
                // our own hosts and scripts may say `HELO localhost`.
                let strict =
                    self.listener.strict_helo && !self.config.policy.may_relay(&self.client);
                let reply = match self.config.policy.helo(&host, strict) {
                    Ok(()) => {
                        self.helo = policy::printable(&host);
                        self.esmtp = !matches!(verb, smtp::HelloVerb::Helo);
                        match &mut self.milters {
                            Some(milters) => {
                                let verdict = milters.helo(&host).await;
                                self.milter_refusal(&verdict, "HELO")
                            }
                            None => None,
                        }
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
                let mut reply = self.mail(&from, flags, &params, session);
                let mut discard = false;
                if reply.is_none()
                    && let Some(milters) = &mut self.milters
                {
                    let sender = from
                        .mailbox()
                        .map(|m| format!("{}@{}", m.local_part, m.host))
                        .unwrap_or_default();
                    let mut args = Vec::new();
                    if let Some(size) = params.size {
                        args.push(format!("SIZE={size}"));
                    }
                    if params.body == Some(smtp::Body::EightBitMime) {
                        args.push("BODY=8BITMIME".to_string());
                    }
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let macros = MailMacros {
                        auth_type: self.auth_mechanism.clone(),
                        auth_authen: self.client.login.clone(),
                        ..MailMacros::default()
                    };
                    let verdict = milters.mail_from(&sender, &args, &macros).await;
                    discard = verdict == Verdict::Discard;
                    reply = self.milter_refusal(&verdict, "MAIL");
                }
                if reply.is_none() {
                    self.transaction = Transaction {
                        sender: from
                            .mailbox()
                            .map(|m| format!("{}@{}", m.local_part, m.host))
                            .unwrap_or_default(),
                        params: Some(params),
                        discard,
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
                // The message came before our 354 (which is not sent yet): a client that does
                // not wait breaks RFC 2920, and that is how smuggling attempts look. Postfix's
                // smtpd_forbid_unauth_pipelining: 554 and disconnect, for unauthenticated
                // network clients.
                if session.receiving_data()
                    && session.buffered() > 0
                    && self.client.login.is_none()
                    && self.client.ip.is_some()
                {
                    info!(session = %self.id, client = %self.client_label(), "message sent before the 354 (unauthorized pipelining); disconnecting");
                    self.last_words = Some(Reply::new(
                        554,
                        Some((5, 5, 0)),
                        "Error: SMTP protocol synchronization",
                    ));
                    return;
                }
                self.data_start().await;
                Ok(())
            }
            Event::DataChunk(chunk) => {
                self.data_chunk(&chunk).await;
                Ok(())
            }
            Event::DataEnd { size } => {
                let reply = self.data_end(size).await;
                session.reply(reply)
            }
            Event::DataAborted(why) => {
                info!(session = %self.id, from = %self.transaction.sender, reason = ?why, "message refused");
                self.transaction = Transaction::default();
                if let Some(milters) = &mut self.milters {
                    milters.abort().await;
                }
                Ok(())
            }
            Event::Reset => {
                self.transaction = Transaction::default();
                if let Some(milters) = &mut self.milters {
                    milters.abort().await;
                }
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
                info!(session = %self.id, user = %success.user, mechanism, client = %self.client_label(), "authenticated");
                self.client.login = Some(success.user);
                session.accept()
            }
            SmtpAuthStep::Failed(failure) => {
                self.exchange = None;
                let reply = sasl::failure_reply(&failure);
                info!(session = %self.id, client = %self.client_label(), reason = ?failure.reason(), result = reply.code, "authentication failed");
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
        if let Some(ip) = self.client.ip
            && !self.config.policy.may_relay(&self.client)
            && let Some(reply) = self.listener.name_checks.refusal(ip, &self.client_name)
        {
            info!(session = %self.id, client = %ip, from = %from, result = reply.code, "client refused: {}", reply.text.join(" "));
            return Some(reply);
        }
        if let Err(reply) =
            self.config
                .policy
                .sender(&self.client, from, flags, self.listener.sender_login_check)
        {
            info!(session = %self.id, from = %from, login = %self.client.login.as_deref().unwrap_or("-"), result = reply.code, "sender refused");
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
                        Lookup::Exists => {}
                        Lookup::Refused(reply) => {
                            let text = reply.text.join(" ");
                            info!(session = %self.id, from = %self.transaction.sender, to = %given, target = %target, result = reply.code, "recipient refused by the mailbox server: {text}");
                            return Some(Reply::new(
                                reply.code,
                                reply.enhanced.or(Some((5, 1, 1))),
                                format!("{given}: Recipient address rejected: {text}"),
                            ));
                        }
                        Lookup::TempFail(text) => {
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
                info!(session = %self.id, from = %self.transaction.sender, to = %given, client = %self.client_label(), result = reply.code, "recipient refused");
                return Some(reply);
            }
        };
        if let Some(milters) = &mut self.milters {
            let local = targets
                .first()
                .and_then(|t| t.rsplit_once('@'))
                .is_some_and(|(_, d)| self.config.policy.is_local_domain(d));
            let route = Route {
                mailer: if local { "lmtp" } else { "smtp" }.to_string(),
                host: given
                    .rsplit_once('@')
                    .map(|(_, d)| d.trim_end_matches('>').to_string())
                    .unwrap_or_default(),
            };
            let address = given
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            let verdict = milters.rcpt(&address, &[], Some(&route)).await;
            if let Some(reply) = self.milter_refusal(&verdict, "RCPT") {
                return Some(reply);
            }
        }
        self.transaction.recipients.push(AcceptedRecipient {
            given,
            targets,
            params,
        });
        None
    }

    /// The SMTP reply for a milter's refusal at `stage` (logged), `None` to go on.
    fn milter_refusal(&mut self, verdict: &Verdict, stage: &str) -> Option<Reply> {
        let reply = filter::verdict_reply(verdict)?;
        if matches!(verdict, Verdict::Disconnect(_)) {
            self.closing = true;
        }
        info!(session = %self.id, stage, result = reply.code, "refused by milter");
        Some(reply)
    }

    /// The client for log lines: its address, or the submitting local user.
    fn client_label(&self) -> String {
        match (self.client.ip, &self.local_user) {
            (Some(ip), _) => ip.to_string(),
            (None, Some(user)) => user.to_string(),
            (None, None) => "local".into(),
        }
    }

    fn tls_established(&mut self, info: &runtime::tls::TlsInfo) {
        self.tls = Some((info.version.to_string(), info.cipher.to_string()));
        if let Some(milters) = &mut self.milters {
            milters.set_tls(&MilterTls {
                version: info.version.to_string(),
                cipher: info.cipher.to_string(),
                cipher_bits: u32::from(info.cipher_bits),
                cert_subject: None,
                cert_issuer: None,
            });
        }
    }

    fn received_header(&self, queue_id: &str) -> String {
        let single = match self.transaction.recipients.as_slice() {
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
            client_name: self.client_name.verified(),
            hostname: &self.config.hostname,
            esmtp: self.esmtp,
            tls: self.tls.as_ref().map(|(v, c)| (v.as_str(), c.as_str())),
            authenticated: self.client.login.is_some(),
            queue_id,
            single_recipient: single.as_deref(),
            local_uid: self.local_user.as_ref().map(|u| u.uid),
        };
        received::received_value(&trace, SystemTime::now())
    }

    async fn data_start(&mut self) {
        let message = NewMessage {
            sender: self.transaction.sender.clone(),
            params: self.transaction.params.clone().unwrap_or_default(),
            recipients: self.transaction.recipients.clone(),
            origin: Origin {
                client_ip: self.client.ip,
                client_name: self.client_name.verified().map(str::to_string),
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
        let mut draft = match block_in_place(|| self.shared.spool.begin(&message)) {
            Ok(draft) => draft,
            Err(e) => {
                warn!(session = %self.id, error = %e, "cannot queue");
                self.transaction.failed = Some(e.to_string());
                return;
            }
        };
        let received = self.received_header(draft.id());
        match &mut self.milters {
            Some(milters) if milters.is_active() => {
                milters.set_queue_id(draft.id());
                match Filtered::new(&self.config.queue.directory) {
                    Ok(mut filtered) => {
                        let verdict = milters.data().await;
                        if !verdict.proceeds() {
                            filtered.refusal = Some(verdict);
                        }
                        self.transaction.filtered = Some(filtered);
                        self.transaction.received = received;
                    }
                    Err(e) => self.transaction.failed = Some(format!("spool file: {e}")),
                }
            }
            _ => {
                let header = format!("Received: {received}\r\n");
                if let Err(e) = draft.write(header.as_bytes()) {
                    self.transaction.failed = Some(e.to_string());
                }
            }
        }
        self.transaction.draft = Some(draft);
    }

    async fn data_chunk(&mut self, chunk: &[u8]) {
        let transaction = &mut self.transaction;
        if transaction.failed.is_some() {
            return;
        }
        if let (Some(filtered), Some(milters)) = (&mut transaction.filtered, &mut self.milters) {
            if let Err(e) = filtered.push(chunk, milters).await {
                transaction.failed = Some(e);
            }
        } else if let Some(draft) = &mut transaction.draft
            // Buffered writes into the page cache; only the commit's fsync is worth handing
            // the worker thread off for.
            && let Err(e) = draft.write(chunk)
        {
            transaction.failed = Some(e.to_string());
        }
    }

    async fn data_end(&mut self, size: u64) -> Reply {
        let mut transaction = std::mem::take(&mut self.transaction);
        if let Some(reason) = &transaction.failed {
            warn!(session = %self.id, from = %transaction.sender, "message not queued: {reason}");
            if let Some(milters) = &mut self.milters {
                milters.abort().await;
            }
            if reason.contains("too large") {
                return Reply::new(
                    552,
                    Some((5, 3, 4)),
                    "Error: message header section too large",
                );
            }
            return Reply::new(451, Some((4, 3, 0)), "Error: queue file write error");
        }
        let Some(mut draft) = transaction.draft.take() else {
            return Reply::local_error();
        };
        let mut held = None;
        if let (Some(mut filtered), Some(milters)) =
            (transaction.filtered.take(), self.milters.as_mut())
        {
            if let Err(e) = filtered.finish_headers(milters).await {
                warn!(session = %self.id, "message not queued: {e}");
                return Reply::new(451, Some((4, 3, 0)), "Error: queue file write error");
            }
            let outcome = match filtered.refusal.take() {
                Some(verdict) => {
                    milters.abort().await;
                    crate::milter::EomOutcome {
                        verdict,
                        changes: Vec::new(),
                        body: None,
                        quarantine: None,
                    }
                }
                None => milters.end_of_message().await,
            };
            match &outcome.verdict {
                Verdict::Discard => transaction.discard = true,
                verdict if !verdict.proceeds() => {
                    let reply = self
                        .milter_refusal(verdict, "end of data")
                        .unwrap_or_else(Reply::local_error);
                    info!(session = %self.id, from = %transaction.sender, result = reply.code, "message refused by milter");
                    return reply;
                }
                _ => {}
            }
            let mut headers = vec![("Received".to_string(), format!(" {}", transaction.received))];
            headers.extend(std::mem::take(&mut filtered.headers));
            apply_header_changes_with_hidden(&mut headers, 1, outcome.header_changes());
            apply_envelope_changes(draft.envelope_mut(), &outcome.changes);
            if let Some(quarantine) = &outcome.quarantine {
                draft.envelope_mut().held = true;
                held = Some(quarantine.clone());
            }
            let replacement = outcome.body.map(|b| b.file);
            let written = block_in_place(|| {
                filtered.write_to(&headers, replacement, &mut |bytes| draft.write(bytes))
            });
            if let Err(e) = written {
                warn!(session = %self.id, error = %e, "message not queued");
                return Reply::new(451, Some((4, 3, 0)), "Error: queue file write error");
            }
        }
        if transaction.discard {
            info!(session = %self.id, from = %transaction.sender, "discarded by milter");
            return Reply::ok_queued(draft.id());
        }
        if draft.envelope_mut().recipients.is_empty() {
            info!(session = %self.id, from = %transaction.sender, "no recipients left after milters; discarded");
            return Reply::ok_queued(draft.id());
        }
        match block_in_place(|| self.shared.spool.commit(draft)) {
            Ok(queue_id) => {
                let to: Vec<&str> = transaction
                    .recipients
                    .iter()
                    .map(|r| r.given.as_str())
                    .collect();
                info!(
                    session = %self.id, queue_id = %queue_id, from = %format!("<{}>", transaction.sender),
                    to = %to.join(","), size, login = %self.client.login.as_deref().unwrap_or("-"), "queued"
                );
                match held {
                    Some(q) => {
                        info!(queue_id = %queue_id, milter = %q.milter, reason = %q.reason, "held (quarantined by milter)")
                    }
                    None => self.shared.scheduler.wake(&queue_id),
                }
                Reply::ok_queued(&queue_id.to_string())
            }
            Err(e) => {
                warn!(session = %self.id, from = %transaction.sender, error = %e, "message not queued");
                Reply::new(451, Some((4, 3, 0)), "Error: queue file write error")
            }
        }
    }

    /// The connection ended: an unfinished message is dropped (its files removed), an
    /// unfinished AUTH abandoned, the milters told.
    async fn end(&mut self) {
        if let (Some(sasl), Some(exchange)) = (&mut self.sasl, &mut self.exchange) {
            sasl.cancel(exchange);
        }
        self.transaction = Transaction::default();
        if let Some(milters) = &mut self.milters {
            milters.quit().await;
        }
    }
}

/// Sender and recipient changes from milters, applied to the envelope to be queued.
fn apply_envelope_changes(envelope: &mut queue::Envelope, changes: &[Modification]) {
    for change in changes {
        match change {
            Modification::ChangeSender { sender, .. } => {
                envelope.sender = sender
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
            }
            Modification::AddRecipient { recipient, .. } => {
                let address = recipient
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                let template = envelope.recipients.first().cloned();
                if let Some(mut r) = template {
                    r.address = address;
                    r.orcpt = None;
                    r.notify = None;
                    envelope.recipients.push(r);
                }
            }
            Modification::DeleteRecipient(recipient) => {
                let address = recipient.trim_start_matches('<').trim_end_matches('>');
                envelope
                    .recipients
                    .retain(|r| !r.address.eq_ignore_ascii_case(address));
            }
            Modification::Header(_) => {}
        }
    }
}

/// `None` accepts the awaited event with the session's default reply.
fn answer(session: &mut ServerSession, reply: Option<Reply>) -> Result<(), ReplyError> {
    match reply {
        None => session.accept(),
        Some(reply) => session.reply(reply),
    }
}
