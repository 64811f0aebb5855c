//! postern-mta's configuration: the TOML file as written (`Raw*`) and the validated
//! [`Config`], built in one pass that reports every problem with its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime::config::{ConfigErrors, IpNetwork};
use runtime::daemon::{DaemonSettings, RawDaemon, RawSockets, SocketSettings};
use runtime::listen::ListenAddress;
use runtime::tls::{RawTls, TlsSettings};
use serde::Deserialize;

use crate::aliases::Aliases;
use crate::client_dns::NameChecks;
use crate::policy::Policy;
use crate::sender_login::SenderLogins;

pub const DEFAULT_PATH: &str = "/etc/postern/mta.toml";

/// The file as written. Every table rejects unknown keys so a typo is an error, not a no-op.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    pub mta: RawMta,
    pub tls: Option<RawTls>,
    pub auth: Option<RawAuth>,
    #[serde(default)]
    pub lmtp: RawLmtp,
    #[serde(default)]
    pub queue: RawQueue,
    #[serde(default)]
    pub listener: Vec<RawListener>,
    #[serde(default)]
    pub milter: BTreeMap<String, RawMilter>,
    #[serde(default)]
    pub dns: RawDns,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    pub nameservers: Option<Vec<String>>,
    pub timeout: Option<String>,
    pub reverse_lookup: Option<bool>,
    pub reverse_lookup_skip: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMta {
    pub hostname: String,
    pub local_domains: Vec<String>,
    pub mynetworks: Option<Vec<String>>,
    pub max_message_size: Option<String>,
    pub max_recipients: Option<usize>,
    pub max_line_length: Option<usize>,
    pub max_errors: Option<u32>,
    pub max_connections_per_ip: Option<usize>,
    pub command_timeout: Option<String>,
    pub data_timeout: Option<String>,
    pub recipient_delimiter: Option<String>,
    pub aliases: Option<PathBuf>,
    pub sender_login_map: Option<PathBuf>,
    pub bare_line_ends: Option<String>,
    pub smtpd_milters: Option<Vec<String>>,
    pub non_smtpd_milters: Option<Vec<String>>,
    pub submit_socket: Option<String>,
    pub control_socket: Option<String>,
    pub origin_domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub socket: String,
    pub mechanisms: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLmtp {
    pub destination: Option<String>,
    pub connections: Option<usize>,
    pub verify_recipients: Option<bool>,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    pub directory: Option<PathBuf>,
    pub lifetime: Option<String>,
    pub min_backoff: Option<String>,
    pub max_backoff: Option<String>,
    pub delivery_concurrency: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub name: String,
    pub listen: Vec<String>,
    pub tls: Option<String>,
    pub require_tls: Option<bool>,
    pub auth: Option<bool>,
    pub require_auth: Option<bool>,
    pub strict_helo: Option<bool>,
    pub milters: Option<Vec<String>>,
    pub sender_login_check: Option<bool>,
    pub reject_unknown_reverse_client_hostname: Option<bool>,
    pub reject_unknown_client_hostname: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMilter {
    pub socket: String,
    pub default_action: Option<String>,
    pub connect_timeout: Option<String>,
    pub command_timeout: Option<String>,
    pub content_timeout: Option<String>,
}

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext only (STARTTLS not offered).
    None,
    /// STARTTLS offered (port 25, 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// One SMTP listener and its policy (like a `master.cf` line with `-o` overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    pub name: String,
    pub listen: Vec<ListenAddress>,
    pub tls: TlsMode,
    /// MAIL and AUTH only after STARTTLS (submission).
    pub require_tls: bool,
    /// AUTH offered (over TLS).
    pub auth: bool,
    /// MAIL only after AUTH (submission).
    pub require_auth: bool,
    /// HELO must be a fully-qualified name (port 25).
    pub strict_helo: bool,
    /// Milter names, in order.
    pub milters: Vec<String>,
    /// Authenticated senders may use only their own addresses.
    pub sender_login_check: bool,
    /// The local submission socket (the sendmail command), not a network listener.
    pub local_submission: bool,
    /// What the client's DNS names must be.
    pub name_checks: NameChecks,
}

/// What to do with mail when a milter cannot be reached or misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilterDefault {
    Accept,
    TempFail,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilterSettings {
    pub name: String,
    pub socket: ListenAddress,
    pub default_action: MilterDefault,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub content_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmtpSettings {
    pub destination: ListenAddress,
    pub connections: usize,
    pub verify_recipients: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub directory: PathBuf,
    pub lifetime: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub delivery_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpLimits {
    pub max_message_size: Option<u64>,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_errors: u32,
    pub max_connections_per_ip: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    /// Reject bare CR/LF in DATA (Postfix's `smtpd_forbid_bare_newline`).
    pub reject_bare_line_ends: bool,
}

/// Client name lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Empty: the system's resolvers (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    pub timeout: Duration,
    /// Look up clients' reverse names at all (Postfix's `smtpd_peername_lookup`).
    pub reverse_lookup: bool,
    /// Addresses never looked up (loopback by default).
    pub reverse_lookup_skip: Vec<IpNetwork>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    pub hostname: String,
    pub policy: Policy,
    pub limits: SmtpLimits,
    pub listeners: Vec<ListenerSettings>,
    pub tls: Option<TlsSettings>,
    pub auth_socket: Option<ListenAddress>,
    pub auth_mechanisms: Vec<String>,
    pub lmtp: LmtpSettings,
    pub queue: QueueSettings,
    pub milters: Vec<MilterSettings>,
    pub non_smtpd_milters: Vec<String>,
    /// Local submissions (the sendmail command) and queue control.
    pub submit_socket: SocketSettings,
    pub control_socket: SocketSettings,
    /// The domain sendmail adds to bare names (`root`), like Postfix's `myorigin`.
    pub origin_domain: String,
    pub dns: DnsSettings,
}

impl Config {
    /// The policy of the local submission socket: no TLS or AUTH (the kernel tells who the
    /// user is), relaying allowed as for any local process, `non_smtpd_milters`.
    pub fn submit_listener(&self) -> ListenerSettings {
        ListenerSettings {
            name: "sendmail".into(),
            listen: self.submit_socket.listen.clone(),
            tls: TlsMode::None,
            require_tls: false,
            auth: false,
            require_auth: false,
            strict_helo: false,
            milters: self.non_smtpd_milters.clone(),
            sender_login_check: false,
            local_submission: true,
            name_checks: NameChecks::default(),
        }
    }
}

impl Config {
    /// Reads, parses and validates `path` with the files it names (aliases, sender logins).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = runtime::config::load(path)?;
        let mut errors = ConfigErrors::new(path);
        let daemon = DaemonSettings::validate(raw.daemon, 200, &mut errors);
        let mta = raw.mta;
        let hostname = mta.hostname.trim().to_string();
        if smtp::Host::parse(&hostname, false).is_err() || !hostname.contains('.') {
            errors.push(
                "mta.hostname",
                format!("{hostname:?} is not a fully-qualified name"),
            );
        }
        let local_domains: Vec<String> = mta
            .local_domains
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let d = d.trim().trim_end_matches('.').to_lowercase();
                if smtp::Host::parse(&d, true).is_err() || d.starts_with('[') {
                    errors.push(
                        format!("mta.local_domains[{i}]"),
                        format!("{d:?} is not a domain"),
                    );
                    None
                } else {
                    Some(d)
                }
            })
            .collect();
        if local_domains.is_empty() {
            errors.push("mta.local_domains", "at least one domain is needed");
        }
        let mynetworks = networks(&mut errors, "mta.mynetworks", mta.mynetworks);
        let delimiter = mta.recipient_delimiter.unwrap_or_else(|| "+".into());
        if delimiter.contains(['@', ' ', '\t']) {
            errors.push("mta.recipient_delimiter", "must not contain '@' or blanks");
        }
        let aliases = match &mta.aliases {
            None => Aliases::default(),
            Some(file) => match std::fs::read_to_string(file) {
                Ok(text) => Aliases::parse(&text, &local_domains).unwrap_or_else(|problems| {
                    for p in problems {
                        errors.push("mta.aliases", format!("{}: {p}", file.display()));
                    }
                    Aliases::default()
                }),
                Err(e) => {
                    errors.push("mta.aliases", format!("{}: {e}", file.display()));
                    Aliases::default()
                }
            },
        };
        let sender_logins = match &mta.sender_login_map {
            None => SenderLogins::default(),
            Some(file) => match std::fs::read_to_string(file) {
                Ok(text) => SenderLogins::parse(&text).unwrap_or_else(|problems| {
                    for p in problems {
                        errors.push("mta.sender_login_map", format!("{}: {p}", file.display()));
                    }
                    SenderLogins::default()
                }),
                Err(e) => {
                    errors.push("mta.sender_login_map", format!("{}: {e}", file.display()));
                    SenderLogins::default()
                }
            },
        };
        let max_message_size = match mta.max_message_size.as_deref() {
            None => Some(50 << 20),
            Some("0" | "none") => None,
            Some(text) => match runtime::config::parse_size(text) {
                Ok(bytes) => Some(bytes),
                Err(reason) => {
                    errors.push("mta.max_message_size", reason);
                    None
                }
            },
        };
        let bare = match mta.bare_line_ends.as_deref() {
            None | Some("reject") => true,
            Some("pass") => false,
            Some(other) => {
                errors.push(
                    "mta.bare_line_ends",
                    format!("{other:?}: expected \"reject\" or \"pass\""),
                );
                true
            }
        };
        let limits = SmtpLimits {
            max_message_size,
            max_recipients: positive(&mut errors, "mta.max_recipients", mta.max_recipients, 1000),
            max_line_length: mta.max_line_length.unwrap_or(4096).max(512),
            max_errors: mta.max_errors.unwrap_or(20),
            max_connections_per_ip: positive(
                &mut errors,
                "mta.max_connections_per_ip",
                mta.max_connections_per_ip,
                20,
            ),
            command_timeout: errors.duration_or(
                "mta.command_timeout",
                mta.command_timeout.as_deref(),
                Duration::from_secs(300),
            ),
            data_timeout: errors.duration_or(
                "mta.data_timeout",
                mta.data_timeout.as_deref(),
                Duration::from_secs(600),
            ),
            reject_bare_line_ends: bare,
        };

        let milters: Vec<MilterSettings> = raw
            .milter
            .into_iter()
            .filter_map(|(name, m)| validate_milter(&name, m, &mut errors))
            .collect();
        let known = |list: &[String], key: &str, errors: &mut ConfigErrors| {
            for (i, name) in list.iter().enumerate() {
                if !milters.iter().any(|m| &m.name == name) {
                    errors.push(format!("{key}[{i}]"), format!("no [milter.{name}] table"));
                }
            }
        };
        let smtpd_milters = mta.smtpd_milters.unwrap_or_default();
        known(&smtpd_milters, "mta.smtpd_milters", &mut errors);
        let non_smtpd_milters = mta.non_smtpd_milters.unwrap_or_default();
        known(&non_smtpd_milters, "mta.non_smtpd_milters", &mut errors);

        let tls = raw
            .tls
            .map(|t| TlsSettings::validate(t, "tls", &mut errors));
        let mut listeners = Vec::new();
        for (i, l) in raw.listener.into_iter().enumerate() {
            let key = format!("listener[{i}]");
            let listener = validate_listener(&key, l, &smtpd_milters, &mut errors);
            if listener.tls != TlsMode::None && tls.is_none() {
                errors.push(
                    format!("{key}.tls"),
                    "needs a [tls] table with cert_file and key_file",
                );
            }
            for (j, name) in listener.milters.iter().enumerate() {
                if !milters.iter().any(|m| &m.name == name) {
                    errors.push(
                        format!("{key}.milters[{j}]"),
                        format!("no [milter.{name}] table"),
                    );
                }
            }
            if listeners
                .iter()
                .any(|o: &ListenerSettings| o.name == listener.name)
            {
                errors.push(
                    format!("{key}.name"),
                    format!("{:?} is used twice", listener.name),
                );
            }
            listeners.push(listener);
        }
        if listeners.is_empty() {
            errors.push("listener", "at least one [[listener]] is needed");
        }
        let (auth_socket, auth_mechanisms) = match raw.auth {
            None => (None, Vec::new()),
            Some(auth) => {
                let socket = parse_address(&mut errors, "auth.socket", &auth.socket);
                let mechanisms: Vec<String> = auth
                    .mechanisms
                    .unwrap_or_else(|| vec!["PLAIN".into(), "LOGIN".into()])
                    .into_iter()
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                for (i, m) in mechanisms.iter().enumerate() {
                    if m != "PLAIN" && m != "LOGIN" {
                        errors.push(
                            format!("auth.mechanisms[{i}]"),
                            format!("{m:?}: PLAIN or LOGIN"),
                        );
                    }
                }
                (socket, mechanisms)
            }
        };
        for (i, l) in listeners.iter().enumerate() {
            if l.auth && auth_socket.is_none() {
                errors.push(
                    format!("listener[{i}].auth"),
                    "needs an [auth] table with the socket",
                );
            }
        }
        let lmtp = LmtpSettings {
            destination: parse_address(
                &mut errors,
                "lmtp.destination",
                raw.lmtp
                    .destination
                    .as_deref()
                    .unwrap_or("unix:/run/postern-mda/lmtp.sock"),
            )
            .unwrap_or_else(|| ListenAddress::Unix(PathBuf::from("/run/postern-mda/lmtp.sock"))),
            connections: positive(&mut errors, "lmtp.connections", raw.lmtp.connections, 4),
            verify_recipients: raw.lmtp.verify_recipients.unwrap_or(true),
            timeout: errors.duration_or(
                "lmtp.timeout",
                raw.lmtp.timeout.as_deref(),
                Duration::from_secs(600),
            ),
        };
        let queue = QueueSettings {
            directory: raw
                .queue
                .directory
                .unwrap_or_else(|| PathBuf::from("/var/spool/postern")),
            lifetime: errors.duration_or(
                "queue.lifetime",
                raw.queue.lifetime.as_deref(),
                Duration::from_secs(5 * 24 * 3600),
            ),
            min_backoff: errors.duration_or(
                "queue.min_backoff",
                raw.queue.min_backoff.as_deref(),
                Duration::from_secs(300),
            ),
            max_backoff: errors.duration_or(
                "queue.max_backoff",
                raw.queue.max_backoff.as_deref(),
                Duration::from_secs(4000),
            ),
            delivery_concurrency: positive(
                &mut errors,
                "queue.delivery_concurrency",
                raw.queue.delivery_concurrency,
                8,
            ),
        };
        let submit_socket = SocketSettings::validate(
            RawSockets {
                listen: Some(vec![
                    mta.submit_socket
                        .unwrap_or_else(|| "unix:/run/postern-mta/submit.sock".into()),
                ]),
                socket_mode: Some("0666".into()),
                ..RawSockets::default()
            },
            "mta.submit_socket",
            &[],
            &mut errors,
        );
        let control_socket = SocketSettings::validate(
            RawSockets {
                listen: Some(vec![
                    mta.control_socket
                        .unwrap_or_else(|| "unix:/run/postern-mta/control.sock".into()),
                ]),
                socket_mode: Some("0600".into()),
                ..RawSockets::default()
            },
            "mta.control_socket",
            &[],
            &mut errors,
        );
        let dns = validate_dns(raw.dns, &mut errors);
        for (i, l) in listeners.iter().enumerate() {
            if (l.name_checks.require_ptr || l.name_checks.require_fcrdns) && !dns.reverse_lookup {
                errors.push(
                    format!("listener[{i}]"),
                    "reject_unknown_*_client_hostname needs dns.reverse_lookup = true",
                );
            }
        }
        let origin_domain = match mta.origin_domain {
            Some(domain) => {
                let domain = domain.trim().trim_end_matches('.').to_lowercase();
                if smtp::Host::parse(&domain, true).is_err() || domain.starts_with('[') {
                    errors.push("mta.origin_domain", format!("{domain:?} is not a domain"));
                }
                domain
            }
            None => local_domains.first().cloned().unwrap_or_default(),
        };
        let policy = Policy {
            local_domains,
            mynetworks,
            delimiter,
            aliases,
            sender_logins,
        };
        errors.into_result(Config {
            daemon,
            hostname,
            policy,
            limits,
            listeners,
            tls,
            auth_socket,
            auth_mechanisms,
            lmtp,
            queue,
            milters,
            non_smtpd_milters,
            submit_socket,
            control_socket,
            origin_domain,
            dns,
        })
    }
}

/// A list of networks; this host's loopback networks when not given.
fn networks(errors: &mut ConfigErrors, key: &str, list: Option<Vec<String>>) -> Vec<IpNetwork> {
    list.unwrap_or_else(|| vec!["127.0.0.0/8".into(), "::1/128".into()])
        .iter()
        .enumerate()
        .filter_map(|(i, text)| match text.parse::<IpNetwork>() {
            Ok(net) => Some(net),
            Err(e) => {
                errors.push(format!("{key}[{i}]"), e);
                None
            }
        })
        .collect()
}

fn validate_dns(raw: RawDns, errors: &mut ConfigErrors) -> DnsSettings {
    let nameservers = raw
        .nameservers
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let parsed = text.parse::<SocketAddr>().or_else(|_| {
                text.parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            });
            match parsed {
                Ok(address) => Some(address),
                Err(_) => {
                    errors.push(
                        format!("dns.nameservers[{i}]"),
                        format!("{text:?} is not an IP address (with an optional :port)"),
                    );
                    None
                }
            }
        })
        .collect();
    let reverse_lookup_skip = networks(errors, "dns.reverse_lookup_skip", raw.reverse_lookup_skip);
    DnsSettings {
        nameservers,
        timeout: errors.duration_or(
            "dns.timeout",
            raw.timeout.as_deref(),
            Duration::from_secs(5),
        ),
        reverse_lookup: raw.reverse_lookup.unwrap_or(true),
        reverse_lookup_skip,
    }
}

fn positive(errors: &mut ConfigErrors, key: &str, value: Option<usize>, default: usize) -> usize {
    let value = value.unwrap_or(default);
    if value == 0 {
        errors.push(key, "must be at least 1");
    }
    value
}

fn parse_address(errors: &mut ConfigErrors, key: &str, text: &str) -> Option<ListenAddress> {
    match text.parse::<ListenAddress>() {
        Ok(address) => Some(address),
        Err(e) => {
            errors.push(key, e);
            None
        }
    }
}

fn validate_listener(
    key: &str,
    raw: RawListener,
    default_milters: &[String],
    errors: &mut ConfigErrors,
) -> ListenerSettings {
    let listen = raw
        .listen
        .iter()
        .enumerate()
        .filter_map(|(i, text)| parse_address(errors, &format!("{key}.listen[{i}]"), text))
        .collect::<Vec<_>>();
    if listen.is_empty() {
        errors.push(format!("{key}.listen"), "at least one address is needed");
    }
    let tls = match raw.tls.as_deref() {
        None | Some("starttls") => TlsMode::StartTls,
        Some("none") => TlsMode::None,
        Some("implicit") => TlsMode::Implicit,
        Some(other) => {
            errors.push(
                format!("{key}.tls"),
                format!("{other:?}: expected \"starttls\", \"implicit\" or \"none\""),
            );
            TlsMode::StartTls
        }
    };
    let auth = raw.auth.unwrap_or(false);
    let require_auth = raw.require_auth.unwrap_or(false);
    if require_auth && !auth {
        errors.push(format!("{key}.require_auth"), "needs auth = true");
    }
    let require_tls = raw.require_tls.unwrap_or(false);
    if require_tls && tls == TlsMode::None {
        errors.push(
            format!("{key}.require_tls"),
            "needs tls = \"starttls\" or \"implicit\"",
        );
    }
    ListenerSettings {
        name: raw.name,
        listen,
        tls,
        require_tls,
        auth,
        require_auth,
        strict_helo: raw.strict_helo.unwrap_or(!require_auth),
        milters: raw.milters.unwrap_or_else(|| default_milters.to_vec()),
        sender_login_check: raw.sender_login_check.unwrap_or(true),
        local_submission: false,
        name_checks: NameChecks {
            require_ptr: raw.reject_unknown_reverse_client_hostname.unwrap_or(false),
            require_fcrdns: raw.reject_unknown_client_hostname.unwrap_or(false),
        },
    }
}

fn validate_milter(
    name: &str,
    raw: RawMilter,
    errors: &mut ConfigErrors,
) -> Option<MilterSettings> {
    let key = format!("milter.{name}");
    let socket = parse_address(errors, &format!("{key}.socket"), &raw.socket)?;
    let default_action = match raw.default_action.as_deref() {
        None | Some("tempfail") => MilterDefault::TempFail,
        Some("accept") => MilterDefault::Accept,
        Some("reject") => MilterDefault::Reject,
        Some(other) => {
            errors.push(
                format!("{key}.default_action"),
                format!("{other:?}: expected \"accept\", \"tempfail\" or \"reject\""),
            );
            MilterDefault::TempFail
        }
    };
    Some(MilterSettings {
        name: name.to_string(),
        socket,
        default_action,
        // Postfix's milter_connect_timeout, milter_command_timeout, milter_content_timeout.
        connect_timeout: errors.duration_or(
            &format!("{key}.connect_timeout"),
            raw.connect_timeout.as_deref(),
            Duration::from_secs(30),
        ),
        command_timeout: errors.duration_or(
            &format!("{key}.command_timeout"),
            raw.command_timeout.as_deref(),
            Duration::from_secs(30),
        ),
        content_timeout: errors.duration_or(
            &format!("{key}.content_timeout"),
            raw.content_timeout.as_deref(),
            Duration::from_secs(300),
        ),
    })
}
