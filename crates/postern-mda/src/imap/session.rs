//! One IMAP connection's state and its commands, outside the selected folder: capabilities,
//! login, ENABLE, ID, NAMESPACE. Handlers are blocking (they touch the Maildir); the
//! connection driver runs them with `block_in_place` and sends [`Session::out`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use dovecot_auth::Admission;
use imap::command::{Command, CommandBody, Secret};
use imap::response::{Code, Status, continuation, tagged, untagged};
use maildir::MailStore;
use runtime::accept::SessionId;
use tracing::{info, warn};
use users::AuthFailure;

use super::append::AppendState;
use super::limits::Slot;
use super::output::Output;
use super::selected::Selected;
use crate::server::{Shared, State};

/// What the driver does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Send the output, then run the TLS handshake.
    StartTls,
    /// Send the output, then wait for DONE or changes.
    Idle,
    /// Send the output, then compress both directions (COMPRESS=DEFLATE).
    Compress,
    /// Send the output, then call [`Session::resume`]: a long FETCH continues.
    More,
    /// Send the output and close.
    Close,
}

/// A logged-in user.
#[derive(Debug)]
pub struct Account {
    pub name: String,
    pub store: MailStore,
    /// The passwd-file's quota rules over `[mail] quota`, as LMTP applies them.
    pub quota: maildir::QuotaLimit,
    _slot: Option<Slot>,
}

/// Extensions the client turned on with ENABLE (or SELECT ... (CONDSTORE)).
#[derive(Debug, Default, Clone, Copy)]
pub struct Enabled {
    pub condstore: bool,
    pub qresync: bool,
    pub utf8: bool,
    pub rev2: bool,
}

/// An AUTHENTICATE waiting for the client's response line.
#[derive(Debug)]
struct PendingAuth {
    tag: String,
}

#[derive(Debug)]
pub struct Session {
    pub id: SessionId,
    pub shared: Arc<Shared>,
    pub config: Arc<State>,
    pub peer: Option<IpAddr>,
    pub tls: bool,
    /// TLS, or a loopback/UNIX client: plaintext passwords are fine.
    pub secure: bool,
    pub account: Option<Account>,
    pub selected: Option<Selected>,
    pub enabled: Enabled,
    pub out: Output,
    /// Sleep this long before sending the output (failed logins).
    pub delay: Option<Duration>,
    pub append: Option<AppendState>,
    pending_auth: Option<PendingAuth>,
    pub idle_tag: Option<String>,
    pub compressed: bool,
    pub pending_fetch: Option<Box<super::fetch::FetchJob>>,
    login_failures: u32,
}

impl Session {
    pub fn new(
        id: SessionId,
        shared: Arc<Shared>,
        peer: Option<IpAddr>,
        tls: bool,
        local: bool,
    ) -> Session {
        let config = shared.state.load();
        Session {
            id,
            shared,
            config,
            peer,
            tls,
            secure: tls || local,
            account: None,
            selected: None,
            enabled: Enabled::default(),
            out: Output::default(),
            delay: None,
            append: None,
            pending_auth: None,
            idle_tag: None,
            compressed: false,
            pending_fetch: None,
            login_failures: 0,
        }
    }

    /// The greeting.
    pub fn greet(&mut self) {
        let caps = self.capabilities();
        untagged(
            self.out.bytes(),
            Status::Ok,
            Some(&Code::Capability(caps)),
            "Postern IMAP ready.",
        );
    }

    pub fn capabilities(&self) -> Vec<String> {
        let imap = &self.config.config.imap;
        let mut caps: Vec<String> = [
            "IMAP4rev1",
            "IMAP4rev2",
            "SASL-IR",
            "LITERAL+",
            "ID",
            "ENABLE",
            "IDLE",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        if self.account.is_none() {
            if !self.tls && self.shared.imap_tls.is_some() {
                caps.push("STARTTLS".into());
            }
            if self.secure || imap.allow_plaintext_login {
                caps.push("AUTH=PLAIN".into());
            } else {
                caps.push("LOGINDISABLED".into());
            }
            return caps;
        }
        caps.extend(
            [
                "NAMESPACE",
                "UNSELECT",
                "UIDPLUS",
                "MOVE",
                "CHILDREN",
                "SPECIAL-USE",
                "CREATE-SPECIAL-USE",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "CONDSTORE",
                "QRESYNC",
                "ESEARCH",
                "SORT",
                "SORT=DISPLAY",
                "THREAD=REFERENCES",
                "THREAD=ORDEREDSUBJECT",
                "MULTIAPPEND",
                "BINARY",
                "UTF8=ACCEPT",
                "STATUS=SIZE",
                "WITHIN",
            ]
            .iter()
            .map(|s| (*s).to_string()),
        );
        caps.push(format!("APPENDLIMIT={}", imap.append_limit));
        if !self.compressed {
            caps.push("COMPRESS=DEFLATE".into());
        }
        caps
    }

    /// Handles one complete command line (or a continuation the session waits for).
    pub fn handle_line(&mut self, bytes: &[u8]) -> Next {
        if let Some(pending) = self.pending_auth.take() {
            return self.authenticate_response(pending, bytes);
        }
        if self.append.is_some() {
            return self.append_tail(bytes);
        }
        match imap::command::parse_command(bytes) {
            Ok(command) => self.handle(command),
            Err(e) => {
                let tag = e.tag.unwrap_or_else(|| "*".to_string());
                tagged(self.out.bytes(), &tag, Status::Bad, None, &e.message);
                Next::Continue
            }
        }
    }

    fn handle(&mut self, command: Command) -> Next {
        let Command { tag, body } = command;
        let authenticated = self.account.is_some();
        let selected = self.selected.is_some();
        match body {
            CommandBody::Capability => {
                let line = format!("CAPABILITY {}\r\n", self.capabilities().join(" "));
                self.out.extend(b"* ");
                self.out.extend(line.as_bytes());
                self.ok(&tag, "CAPABILITY completed.");
            }
            CommandBody::Noop | CommandBody::Check => {
                if selected {
                    self.refresh(true);
                }
                self.ok(&tag, "NOOP completed.");
            }
            CommandBody::Logout => {
                untagged(self.out.bytes(), Status::Bye, None, "Logging out.");
                self.ok(&tag, "LOGOUT completed.");
                return Next::Close;
            }
            CommandBody::StartTls => {
                if self.tls || self.shared.imap_tls.is_none() {
                    let text = if self.tls {
                        "TLS is already active."
                    } else {
                        "TLS is not configured."
                    };
                    tagged(self.out.bytes(), &tag, Status::Bad, None, text);
                } else if authenticated {
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::Bad,
                        None,
                        "STARTTLS only before login.",
                    );
                } else {
                    self.ok(&tag, "Begin TLS negotiation now.");
                    return Next::StartTls;
                }
            }
            CommandBody::Login { user, password } => {
                if authenticated {
                    return self.bad_state(&tag);
                }
                if !self.secure && !self.config.config.imap.allow_plaintext_login {
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::No,
                        Some(&Code::PrivacyRequired),
                        "Plaintext authentication disallowed on non-secure connections.",
                    );
                    return Next::Continue;
                }
                return self.login(&tag, &user, password.0.as_bytes(), "LOGIN");
            }
            CommandBody::Authenticate { mechanism, initial } => {
                if authenticated {
                    return self.bad_state(&tag);
                }
                if mechanism != "PLAIN" {
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::No,
                        None,
                        "Unsupported authentication mechanism.",
                    );
                    return Next::Continue;
                }
                if !self.secure && !self.config.config.imap.allow_plaintext_login {
                    tagged(
                        self.out.bytes(),
                        &tag,
                        Status::No,
                        Some(&Code::PrivacyRequired),
                        "Plaintext authentication disallowed on non-secure connections.",
                    );
                    return Next::Continue;
                }
                match initial {
                    Some(Secret(response)) => return self.plain(&tag, &response),
                    None => {
                        continuation(self.out.bytes(), "");
                        self.pending_auth = Some(PendingAuth { tag });
                    }
                }
            }
            CommandBody::Id(_) => {
                self.out.extend(
                    format!(
                        "* ID (\"name\" \"Postern\" \"version\" \"{}\")\r\n",
                        env!("CARGO_PKG_VERSION")
                    )
                    .as_bytes(),
                );
                self.ok(&tag, "ID completed.");
            }
            _ if !authenticated => {
                tagged(self.out.bytes(), &tag, Status::Bad, None, "Log in first.");
            }
            CommandBody::Enable(names) => self.enable(&tag, &names),
            CommandBody::Compress(mechanism) => {
                if self.compressed {
                    self.no(
                        &tag,
                        Some(&Code::CompressionActive),
                        "Compression is already on.",
                    );
                } else if mechanism != "DEFLATE" {
                    self.no(&tag, None, "Unsupported compression mechanism.");
                } else {
                    self.ok(&tag, "DEFLATE active.");
                    self.compressed = true;
                    return Next::Compress;
                }
            }
            CommandBody::Namespace => {
                let sep = self.separator();
                self.out
                    .extend(format!("* NAMESPACE ((\"\" \"{sep}\")) NIL NIL\r\n").as_bytes());
                self.ok(&tag, "NAMESPACE completed.");
            }
            CommandBody::Idle => {
                if selected {
                    self.refresh(true);
                }
                continuation(self.out.bytes(), "idling");
                self.idle_tag = Some(tag);
                return Next::Idle;
            }
            CommandBody::Select { mailbox, params } => self.select(&tag, &mailbox, params, false),
            CommandBody::Examine { mailbox, params } => self.select(&tag, &mailbox, params, true),
            CommandBody::Create {
                mailbox,
                special_use,
            } => self.create(&tag, &mailbox, &special_use),
            CommandBody::Delete(mailbox) => self.delete(&tag, &mailbox),
            CommandBody::Rename { from, to } => self.rename(&tag, &from, &to),
            CommandBody::Subscribe(mailbox) => self.subscribe(&tag, &mailbox, true),
            CommandBody::Unsubscribe(mailbox) => self.subscribe(&tag, &mailbox, false),
            CommandBody::List(list) => self.list(&tag, list),
            CommandBody::Lsub { reference, pattern } => self.lsub(&tag, &reference, &pattern),
            CommandBody::Status { mailbox, items } => self.status(&tag, &mailbox, &items),
            _ if !selected => {
                tagged(
                    self.out.bytes(),
                    &tag,
                    Status::Bad,
                    None,
                    "No mailbox selected.",
                );
            }
            CommandBody::Close => self.close(&tag, true),
            CommandBody::Unselect => self.close(&tag, false),
            CommandBody::Expunge => self.expunge(&tag, None),
            CommandBody::UidExpunge(set) => self.expunge(&tag, Some(set)),
            CommandBody::Search {
                uid,
                charset,
                criteria,
                ret,
            } => self.search(&tag, uid, charset.as_deref(), &criteria, ret.as_deref()),
            CommandBody::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => return self.fetch(&tag, uid, &set, &items, changed_since, vanished),
            CommandBody::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => self.store(&tag, uid, &set, mode, silent, &flags, unchanged_since),
            CommandBody::Copy { uid, set, mailbox } => self.copy(&tag, uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(&tag, uid, &set, &mailbox, true),
            CommandBody::Sort {
                uid,
                keys,
                charset,
                criteria,
                ret,
            } => self.sort(&tag, uid, &keys, &charset, &criteria, ret.as_deref()),
            CommandBody::Thread {
                uid,
                algorithm,
                charset,
                criteria,
            } => self.thread(&tag, uid, algorithm, &charset, &criteria),
            #[allow(unreachable_patterns)]
            _ => {
                tagged(
                    self.out.bytes(),
                    &tag,
                    Status::Bad,
                    None,
                    "Command not supported.",
                );
            }
        }
        Next::Continue
    }

    pub fn ok(&mut self, tag: &str, text: &str) {
        tagged(self.out.bytes(), tag, Status::Ok, None, text);
    }

    pub fn no(&mut self, tag: &str, code: Option<&Code>, text: &str) {
        tagged(self.out.bytes(), tag, Status::No, code, text);
    }

    fn bad_state(&mut self, tag: &str) -> Next {
        tagged(
            self.out.bytes(),
            tag,
            Status::Bad,
            None,
            "Already logged in.",
        );
        Next::Continue
    }

    /// The hierarchy separator clients see.
    pub fn separator(&self) -> char {
        self.account
            .as_ref()
            .map_or('.', |account| account.store.separator())
    }

    fn enable(&mut self, tag: &str, names: &[String]) {
        let mut done = Vec::new();
        for name in names {
            let flag = match name.as_str() {
                "CONDSTORE" => &mut self.enabled.condstore,
                "QRESYNC" => &mut self.enabled.qresync,
                "UTF8=ACCEPT" => &mut self.enabled.utf8,
                "IMAP4REV2" => &mut self.enabled.rev2,
                _ => continue,
            };
            if !*flag {
                *flag = true;
                done.push(name.clone());
            }
        }
        if self.enabled.qresync {
            self.enabled.condstore = true;
        }
        if self.enabled.rev2 {
            // IMAP4rev2 mailbox names are UTF-8.
            self.enabled.utf8 = true;
        }
        let mut line = b"* ENABLED".to_vec();
        for name in &done {
            line.push(b' ');
            line.extend_from_slice(name.as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        self.out.extend(&line);
        self.ok(tag, "ENABLE completed.");
    }

    fn plain(&mut self, tag: &str, response: &[u8]) -> Next {
        // authzid NUL authcid NUL password
        let mut parts = response.splitn(3, |b| *b == 0);
        let (Some(authz), Some(authc), Some(password)) = (parts.next(), parts.next(), parts.next())
        else {
            tagged(
                self.out.bytes(),
                tag,
                Status::Bad,
                None,
                "Invalid PLAIN response.",
            );
            return Next::Continue;
        };
        if !authz.is_empty() && authz != authc {
            self.no(
                tag,
                Some(&Code::AuthorizationFailed),
                "Authorization as another user is not allowed.",
            );
            return Next::Continue;
        }
        let Ok(user) = std::str::from_utf8(authc) else {
            self.no(
                tag,
                Some(&Code::AuthenticationFailed),
                "Authentication failed.",
            );
            return Next::Continue;
        };
        let user = user.to_string();
        let password = password.to_vec();
        self.login(tag, &user, &password, "PLAIN")
    }

    fn authenticate_response(&mut self, pending: PendingAuth, line: &[u8]) -> Next {
        let line = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        if line == b"*" {
            tagged(
                self.out.bytes(),
                &pending.tag,
                Status::Bad,
                None,
                "Authentication aborted.",
            );
            return Next::Continue;
        }
        match base64::engine::general_purpose::STANDARD.decode(line) {
            Ok(response) => self.plain(&pending.tag, &response),
            Err(_) => {
                tagged(
                    self.out.bytes(),
                    &pending.tag,
                    Status::Bad,
                    None,
                    "Invalid base64.",
                );
                Next::Continue
            }
        }
    }

    /// Checks the password against the passwd-file with the auth socket's throttle: every
    /// failure is delayed, an address with too many is locked out for a while.
    fn login(&mut self, tag: &str, login: &str, password: &[u8], mechanism: &str) -> Next {
        // The passwd-file may have changed since this connection started.
        self.config = self.shared.state.load();
        let now = Instant::now();
        let failure_delay = self.config.config.auth.throttle.failure_delay;
        let admission = match (self.peer, self.shared.throttle.lock()) {
            (Some(ip), Ok(t)) => t.check(ip, now),
            _ => Admission::Allow,
        };
        let rip = self.peer.map(|ip| ip.to_string()).unwrap_or_default();
        if let Admission::Locked { .. } = admission {
            info!(session = %self.id, user = %login, rip = %rip, "imap login locked out");
            self.delay = Some(failure_delay);
            self.no(
                tag,
                Some(&Code::Unavailable),
                "Too many failed logins, try again later.",
            );
            return Next::Continue;
        }
        let state = self.config.clone();
        let verdict = state.users.authenticate(login, password).map(|ok| {
            let mail = &state.config.mail;
            let found = crate::mailbox::store_for(&ok.user, mail)
                .and_then(|store| Ok((store, crate::mailbox::quota_for(&ok.user, mail.quota)?)));
            (ok.user.name.clone(), found)
        });
        match verdict {
            Ok((name, Ok((store, quota)))) => {
                let slot = match self
                    .shared
                    .imap_limits
                    .take_user(&name, self.config.config.imap.max_connections_per_user)
                {
                    Some(slot) => slot,
                    None => {
                        info!(session = %self.id, user = %name, "imap: too many connections for user");
                        self.no(
                            tag,
                            Some(&Code::Limit),
                            "Too many connections for this user.",
                        );
                        return Next::Continue;
                    }
                };
                if let (Some(ip), Ok(mut t)) = (self.peer, self.shared.throttle.lock()) {
                    t.record_success(ip, now);
                }
                if let Err(e) = store.inbox().ensure() {
                    warn!(session = %self.id, user = %name, error = %e, "cannot create INBOX");
                }
                info!(session = %self.id, user = %name, mech = mechanism, rip = %rip, tls = self.tls, "imap login");
                self.account = Some(Account {
                    name,
                    store,
                    quota,
                    _slot: Some(slot),
                });
                let caps = self.capabilities();
                tagged(
                    self.out.bytes(),
                    tag,
                    Status::Ok,
                    Some(&Code::Capability(caps)),
                    "Logged in.",
                );
            }
            Ok((name, Err(reason))) => {
                warn!(session = %self.id, user = %name, reason = %reason, "imap login: no mail store");
                self.no(tag, Some(&Code::Unavailable), "Mail store unavailable.");
            }
            Err(failure) => {
                if let AuthFailure::Hash(e) = &failure {
                    warn!(session = %self.id, user = %login, error = %e, "unusable password hash");
                }
                let wait = match (self.peer, self.shared.throttle.lock()) {
                    (Some(ip), Ok(mut t)) => {
                        t.prune(now);
                        t.record_failure(ip, now)
                    }
                    _ => failure_delay,
                };
                self.login_failures += 1;
                info!(session = %self.id, user = %login, mech = mechanism, rip = %rip, reason = %failure, "imap login failed");
                self.delay = Some(wait);
                self.no(
                    tag,
                    Some(&Code::AuthenticationFailed),
                    "Authentication failed.",
                );
                if self.login_failures >= 3 {
                    untagged(
                        self.out.bytes(),
                        Status::Bye,
                        None,
                        "Too many failed logins.",
                    );
                    return Next::Close;
                }
            }
        }
        Next::Continue
    }
}
