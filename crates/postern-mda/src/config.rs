//! postern-mda's configuration: the TOML file as written (`RawConfig`) and the validated
//! `Config`, built in one pass that reports every problem with its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use maildir::{Layout, QuotaLimit};
use runtime::config::ConfigErrors;
use runtime::daemon::{DaemonSettings, RawDaemon, RawSockets, SocketSettings};
use runtime::listen::ListenAddress;
use runtime::tls::{RawTls, TlsSettings};
use serde::Deserialize;
use users::{UserDbOptions, UsernameFormat};

pub const DEFAULT_PATH: &str = "/etc/postern/mda.toml";
pub const DEFAULT_LMTP_SOCKET: &str = "unix:/run/postern-mda/lmtp.sock";
pub const DEFAULT_AUTH_SOCKET: &str = "unix:/run/postern-mda/auth.sock";

/// The file as written. Every table rejects unknown keys so a typo is an error, not a no-op.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub lmtp: RawLmtp,
    #[serde(default)]
    pub auth: RawAuth,
    pub users: RawUsers,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub imap: RawImap,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub listen: Option<Vec<String>>,
    pub listen_tls: Option<Vec<String>>,
    pub allow_plaintext_login: Option<bool>,
    pub max_connections_per_user: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub login_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub max_line_length: Option<String>,
    pub append_limit: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLmtp {
    pub listen: Option<Vec<String>>,
    pub socket_mode: Option<String>,
    pub socket_owner: Option<String>,
    pub socket_group: Option<String>,
    pub hostname: Option<String>,
    pub max_message_size: Option<String>,
    pub max_recipients: Option<usize>,
    pub recipient_delimiter: Option<String>,
    pub save_to_detail_mailbox: Option<bool>,
    pub duplicate_window: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub listen: Option<Vec<String>>,
    pub socket_mode: Option<String>,
    pub socket_owner: Option<String>,
    pub socket_group: Option<String>,
    pub require_secured: Option<bool>,
    pub failure_delay: Option<String>,
    pub max_failures: Option<u32>,
    pub failure_window: Option<String>,
    pub lockout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsers {
    pub passwd_file: PathBuf,
    pub username_format: Option<String>,
    pub default_domain: Option<String>,
    pub domains: Option<Vec<String>>,
    pub home: Option<String>,
    #[serde(default)]
    pub catch_all: BTreeMap<String, String>,
    pub vmail_uid: Option<u32>,
    pub vmail_gid: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub layout: Option<String>,
    pub maildir: Option<String>,
    pub spam_header: Option<Vec<String>>,
    pub quota: Option<String>,
    pub tmp_max_age: Option<String>,
    pub sieve: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmtpSettings {
    pub sockets: SocketSettings,
    pub hostname: String,
    pub max_message_size: Option<u64>,
    pub max_recipients: usize,
    pub save_to_detail_mailbox: bool,
    /// A client's resend of a message already delivered to a recipient within this long is
    /// answered 250 without a second copy (zero: off).
    pub duplicate_window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub sockets: SocketSettings,
    pub require_secured: bool,
    pub throttle: dovecot_auth::ThrottleOptions,
}

/// Where and how mail is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub layout: Layout,
    /// Relative to the user's home; empty: the home itself.
    pub maildir: String,
    /// `(name, value)` pairs; a message with any of them goes to Junk.
    pub spam_headers: Vec<(String, String)>,
    pub quota: QuotaLimit,
    pub owner: Option<(u32, u32)>,
    /// `tmp/` files older than this are removed at start (what crashed deliveries left).
    pub tmp_max_age: Duration,
    /// The user's Sieve filter, relative to the home; `None`: filters are off.
    pub sieve: Option<String>,
}

/// The IMAP server (off unless `imap.listen` or `imap.listen_tls` names an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapSettings {
    /// Port 143 style: plaintext with STARTTLS.
    pub listen: Vec<ListenAddress>,
    /// Port 993 style: TLS from the first byte.
    pub listen_tls: Vec<ListenAddress>,
    /// LOGIN/AUTHENTICATE before TLS from non-loopback clients (Dovecot's
    /// `disable_plaintext_auth = no`). Default off: LOGINDISABLED.
    pub allow_plaintext_login: bool,
    /// Dovecot's `mail_max_userip_connections` counts per user and address; this counts per
    /// user, which is what protects the server. 0: no limit.
    pub max_connections_per_user: usize,
    pub max_connections_per_ip: usize,
    /// Before login.
    pub login_timeout: Duration,
    /// After login, also in IDLE (RFC 3501: at least 30 minutes).
    pub idle_timeout: Duration,
    pub max_line_length: usize,
    /// APPENDLIMIT: the largest message APPEND takes.
    pub append_limit: u64,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    pub lmtp: LmtpSettings,
    pub auth: AuthSettings,
    pub passwd_file: PathBuf,
    pub users: UserDbOptions,
    pub mail: MailSettings,
    pub imap: ImapSettings,
    pub tls: Option<TlsSettings>,
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = runtime::config::load(path)?;
        let mut errors = ConfigErrors::new(path);
        let daemon = DaemonSettings::validate(raw.daemon, 256, &mut errors);
        let (lmtp, delimiter) = validate_lmtp(raw.lmtp, &mut errors);
        let auth = validate_auth(raw.auth, &mut errors);
        let owner = match (raw.users.vmail_uid, raw.users.vmail_gid) {
            (Some(uid), Some(gid)) => Some((uid, gid)),
            (None, None) => None,
            _ => {
                errors.push(
                    "users.vmail_uid",
                    "set both vmail_uid and vmail_gid, or neither",
                );
                None
            }
        };
        let passwd_file = raw.users.passwd_file.clone();
        let users = validate_users(raw.users, delimiter, &mut errors);
        let mail = validate_mail(raw.mail, owner, &mut errors);
        let tls = raw
            .tls
            .map(|t| TlsSettings::validate(t, "tls", &mut errors));
        let imap = validate_imap(raw.imap, tls.is_some(), &mut errors);
        if !passwd_file.is_file() {
            errors.push(
                "users.passwd_file",
                format!("{} is not a readable file", passwd_file.display()),
            );
        }
        errors.into_result(Config {
            daemon,
            lmtp,
            auth,
            passwd_file,
            users,
            mail,
            imap,
            tls,
        })
    }
}

fn validate_imap(raw: RawImap, have_tls: bool, errors: &mut ConfigErrors) -> ImapSettings {
    let addresses = |key: &str, list: Option<Vec<String>>, errors: &mut ConfigErrors| {
        list.unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, text)| match text.parse::<ListenAddress>() {
                Ok(address) => Some(address),
                Err(reason) => {
                    errors.push(format!("imap.{key}[{i}]"), reason.to_string());
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let listen = addresses("listen", raw.listen, errors);
    let listen_tls = addresses("listen_tls", raw.listen_tls, errors);
    if !listen_tls.is_empty() && !have_tls {
        errors.push(
            "imap.listen_tls",
            "needs a [tls] table with cert_file and key_file",
        );
    }
    let max_line_length = errors.size_or(
        "imap.max_line_length",
        raw.max_line_length.as_deref(),
        64 * 1024,
    );
    if max_line_length < 1024 {
        errors.push("imap.max_line_length", "must be at least 1k");
    }
    let idle_timeout = errors.duration_or(
        "imap.idle_timeout",
        raw.idle_timeout.as_deref(),
        Duration::from_secs(30 * 60),
    );
    if idle_timeout < Duration::from_secs(30 * 60) {
        errors.push(
            "imap.idle_timeout",
            "RFC 3501 asks for at least 30 minutes (\"30m\")",
        );
    }
    ImapSettings {
        listen,
        listen_tls,
        allow_plaintext_login: raw.allow_plaintext_login.unwrap_or(false),
        max_connections_per_user: raw.max_connections_per_user.unwrap_or(20),
        max_connections_per_ip: raw.max_connections_per_ip.unwrap_or(50),
        login_timeout: errors.duration_or(
            "imap.login_timeout",
            raw.login_timeout.as_deref(),
            Duration::from_secs(60),
        ),
        idle_timeout,
        max_line_length: usize::try_from(max_line_length).unwrap_or(usize::MAX),
        append_limit: errors.size_or("imap.append_limit", raw.append_limit.as_deref(), 50 << 20),
    }
}

fn validate_lmtp(raw: RawLmtp, errors: &mut ConfigErrors) -> (LmtpSettings, String) {
    let sockets = SocketSettings::validate(
        RawSockets {
            listen: raw.listen,
            socket_mode: raw.socket_mode,
            socket_owner: raw.socket_owner,
            socket_group: raw.socket_group,
        },
        "lmtp",
        &[DEFAULT_LMTP_SOCKET],
        errors,
    );
    let hostname = raw
        .hostname
        .unwrap_or_else(|| maildir::name::local_host().to_string());
    if hostname.is_empty() || hostname.contains(char::is_whitespace) {
        errors.push("lmtp.hostname", format!("{hostname:?} is not a host name"));
    }
    let max_message_size = match raw.max_message_size.as_deref() {
        None => Some(50 << 20),
        Some("0" | "none") => None,
        Some(text) => match runtime::config::parse_size(text) {
            Ok(bytes) => Some(bytes),
            Err(reason) => {
                errors.push("lmtp.max_message_size", reason);
                None
            }
        },
    };
    let max_recipients = raw.max_recipients.unwrap_or(1000);
    if max_recipients == 0 {
        errors.push("lmtp.max_recipients", "must be at least 1");
    }
    let delimiter = raw.recipient_delimiter.unwrap_or_else(|| "+".to_string());
    if delimiter.contains(['@', ' ', '\t']) {
        errors.push(
            "lmtp.recipient_delimiter",
            format!("{delimiter:?}: must not contain '@' or blanks"),
        );
    }
    let settings = LmtpSettings {
        sockets,
        hostname,
        max_message_size,
        max_recipients,
        save_to_detail_mailbox: raw.save_to_detail_mailbox.unwrap_or(false),
        duplicate_window: errors.duration_or(
            "lmtp.duplicate_window",
            raw.duplicate_window.as_deref(),
            Duration::from_secs(600),
        ),
    };
    (settings, delimiter)
}

fn validate_auth(raw: RawAuth, errors: &mut ConfigErrors) -> AuthSettings {
    let sockets = SocketSettings::validate(
        RawSockets {
            listen: raw.listen,
            socket_mode: raw.socket_mode,
            socket_owner: raw.socket_owner,
            socket_group: raw.socket_group,
        },
        "auth",
        &[DEFAULT_AUTH_SOCKET],
        errors,
    );
    let defaults = dovecot_auth::ThrottleOptions::default();
    let max_failures = raw.max_failures.unwrap_or(defaults.max_failures);
    if max_failures == 0 {
        errors.push("auth.max_failures", "must be at least 1");
    }
    let throttle = dovecot_auth::ThrottleOptions {
        failure_delay: errors.duration_or(
            "auth.failure_delay",
            raw.failure_delay.as_deref(),
            Duration::from_secs(2),
        ),
        max_failures,
        window: errors.duration_or(
            "auth.failure_window",
            raw.failure_window.as_deref(),
            Duration::from_secs(600),
        ),
        lockout: errors.duration_or(
            "auth.lockout",
            raw.lockout.as_deref(),
            Duration::from_secs(900),
        ),
        ..defaults
    };
    AuthSettings {
        sockets,
        require_secured: raw.require_secured.unwrap_or(true),
        throttle,
    }
}

fn validate_users(raw: RawUsers, delimiter: String, errors: &mut ConfigErrors) -> UserDbOptions {
    let username_format = match raw.username_format.as_deref() {
        None | Some("full") => UsernameFormat::Full,
        Some("local") => UsernameFormat::LocalPart,
        Some(other) => {
            errors.push(
                "users.username_format",
                format!("{other:?}: expected \"full\" (user@domain) or \"local\" (user)"),
            );
            UsernameFormat::Full
        }
    };
    let lower = |d: &String| d.trim_end_matches('.').to_ascii_lowercase();
    let domains: Vec<String> = raw.domains.unwrap_or_default().iter().map(lower).collect();
    for (i, domain) in domains.iter().enumerate() {
        if domain.is_empty() || domain.contains(['@', ' ']) {
            errors.push(
                format!("users.domains[{i}]"),
                format!("{domain:?} is not a domain"),
            );
        }
    }
    if username_format == UsernameFormat::LocalPart && raw.default_domain.is_none() {
        errors.push(
            "users.default_domain",
            "required with username_format = \"local\" (the domain of canonical names)",
        );
    }
    if let Some(home) = &raw.home
        && !home.starts_with('/')
    {
        errors.push("users.home", format!("{home:?} must be an absolute path"));
    }
    let mut catch_all = BTreeMap::new();
    for (domain, target) in raw.catch_all {
        let domain = lower(&domain);
        if !domains.is_empty() && !domains.contains(&domain) {
            errors.push(
                format!("users.catch_all.{domain}"),
                "domain is not in users.domains",
            );
        }
        catch_all.insert(domain, target);
    }
    UserDbOptions {
        username_format,
        default_domain: raw.default_domain.as_ref().map(lower),
        domains,
        home_template: raw.home,
        recipient_delimiters: delimiter,
        catch_all,
        lowercase: true,
    }
}

fn validate_mail(
    raw: RawMail,
    owner: Option<(u32, u32)>,
    errors: &mut ConfigErrors,
) -> MailSettings {
    let layout = match raw.layout.as_deref() {
        None | Some("maildir++") => Layout::MaildirPlusPlus,
        Some("fs") => Layout::Fs,
        Some(other) => {
            errors.push(
                "mail.layout",
                format!("{other:?}: expected \"maildir++\" or \"fs\""),
            );
            Layout::MaildirPlusPlus
        }
    };
    let maildir = raw.maildir.unwrap_or_else(|| "Maildir".to_string());
    if maildir.starts_with('/') || maildir.split('/').any(|part| part == "..") {
        errors.push(
            "mail.maildir",
            format!("{maildir:?} must be relative to the home, without \"..\""),
        );
    }
    let spam_headers = raw
        .spam_header
        .unwrap_or_else(|| vec!["X-Spam: Yes".to_string(), "X-Spam-Flag: YES".to_string()])
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match text.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() && !name.contains(' ') => {
                Some((name.trim().to_string(), value.trim().to_string()))
            }
            _ => {
                errors.push(
                    format!("mail.spam_header[{i}]"),
                    format!("{text:?}: expected \"Header-Name: value\""),
                );
                None
            }
        })
        .collect();
    let quota = match raw.quota.as_deref() {
        None | Some("none") => QuotaLimit::default(),
        Some(text) => match runtime::config::parse_size(text) {
            Ok(bytes) => QuotaLimit {
                bytes: Some(bytes),
                messages: None,
            },
            Err(reason) => {
                errors.push("mail.quota", reason);
                QuotaLimit::default()
            }
        },
    };
    let sieve = match raw.sieve {
        None => Some(".dovecot.sieve".to_string()),
        Some(name) if name.is_empty() => None,
        Some(name) if name.starts_with('/') || name.split('/').any(|p| p == "..") => {
            errors.push(
                "mail.sieve",
                format!("{name:?}: must be a path under the home (or \"\" for no filters)"),
            );
            None
        }
        Some(name) => Some(name),
    };
    let tmp_max_age = errors.duration_or(
        "mail.tmp_max_age",
        raw.tmp_max_age.as_deref(),
        maildir::DOVECOT_TMP_AGE,
    );
    MailSettings {
        layout,
        maildir,
        spam_headers,
        quota,
        owner,
        tmp_max_age,
        sieve,
    }
}
