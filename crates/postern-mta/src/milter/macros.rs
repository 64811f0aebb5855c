//! The Sendmail macros the chain sends before each command: Postfix's default name lists per
//! stage, and the values the SMTP session knows, under the names Postfix gives them.

use std::collections::HashMap;
use std::net::SocketAddr;

use milter::Stage;

/// Postfix 3.7's `milter_connect_macros`, plus the client address, name and port: Postfix
/// only sends those to milters that ask, but filters written for Sendmail look them up
/// without asking.
pub const CONNECT_MACROS: &str =
    "j {daemon_name} {daemon_addr} v _ {client_addr} {client_name} {client_port}";
/// Postfix's `milter_helo_macros`.
pub const HELO_MACROS: &str = "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}";
/// Postfix's `milter_mail_macros`.
pub const MAIL_MACROS: &str =
    "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}";
/// Postfix's `milter_rcpt_macros`.
pub const RCPT_MACROS: &str = "i {rcpt_addr} {rcpt_host} {rcpt_mailer}";
/// Postfix's `milter_data_macros`.
pub const DATA_MACROS: &str = "i";
/// Postfix's `milter_end_of_header_macros`.
pub const EOH_MACROS: &str = "i";
/// Postfix's `milter_end_of_data_macros`.
pub const EOM_MACROS: &str = "i";

/// The names sent at `stage` to a milter that did not ask for its own list.
pub fn default_names(stage: Stage) -> &'static str {
    match stage {
        Stage::Connect => CONNECT_MACROS,
        Stage::Helo => HELO_MACROS,
        Stage::EnvFrom => MAIL_MACROS,
        Stage::EnvRcpt => RCPT_MACROS,
        Stage::Data => DATA_MACROS,
        Stage::EndOfHeaders => EOH_MACROS,
        Stage::EndOfMessage => EOM_MACROS,
    }
}

/// Who connected, as the SMTP session knows it when the connection opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectInfo {
    /// Our host name (`j`, Postfix's `$myhostname`).
    pub hostname: String,
    /// The listener's name (`{daemon_name}`: "smtp", "submission", ...).
    pub daemon_name: String,
    /// The local address the client connected to (`{daemon_addr}`, `{daemon_port}`).
    pub daemon_addr: Option<SocketAddr>,
    /// The client's address; `None` for local submission (no network client).
    pub client_addr: Option<SocketAddr>,
    /// The client's verified host name (forward-confirmed reverse DNS), if any.
    pub client_name: Option<String>,
    /// The client's reverse DNS name, verified or not, if any.
    pub client_ptr: Option<String>,
}

impl ConnectInfo {
    /// The host name sent in CONNECT: the verified name, else `[address]` as Postfix and
    /// Sendmail do, else `localhost` for a local submission.
    pub(crate) fn connect_hostname(&self) -> String {
        match (&self.client_name, self.client_addr) {
            (Some(name), _) => name.clone(),
            (None, Some(addr)) => format!("[{}]", addr.ip()),
            (None, None) => "localhost".to_string(),
        }
    }
}

/// The TLS session, once STARTTLS (or implicit TLS) completed; sent with HELO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `{tls_version}`, e.g. `TLSv1.3`.
    pub version: String,
    /// `{cipher}`, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// `{cipher_bits}`.
    pub cipher_bits: u32,
    /// `{cert_subject}`: a verified client certificate's subject CN.
    pub cert_subject: Option<String>,
    /// `{cert_issuer}`: its issuer CN.
    pub cert_issuer: Option<String>,
}

/// Values known at MAIL FROM besides the address itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailMacros {
    /// The queue id (`i`), if one is assigned already (Postfix assigns it at the first
    /// accepted RCPT; [`MilterChain::set_queue_id`](super::MilterChain::set_queue_id) sets it
    /// later).
    pub queue_id: Option<String>,
    /// The SASL mechanism (`{auth_type}`), if the client authenticated.
    pub auth_type: Option<String>,
    /// The SASL login (`{auth_authen}`).
    pub auth_authen: Option<String>,
    /// The `AUTH=` parameter of MAIL FROM (`{auth_author}`).
    pub auth_author: Option<String>,
    /// Where the sender address routes to: `{mail_mailer}` (transport such as `smtp`,
    /// `lmtp`) and `{mail_host}` (next hop).
    pub route: Option<Route>,
}

/// A transport and next hop, as Postfix's resolver gives them to `{mail_mailer}`/`{mail_host}`
/// and `{rcpt_mailer}`/`{rcpt_host}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Transport name: `smtp` for remote domains, `lmtp` for local delivery.
    pub mailer: String,
    /// Next-hop host or domain.
    pub host: String,
}

/// Macro values known so far in the session, under their bare names (`i`, `daemon_name`).
#[derive(Debug, Clone, Default)]
pub(crate) struct MacroValues {
    values: HashMap<&'static str, String>,
}

impl MacroValues {
    pub fn from_connect(info: &ConnectInfo) -> Self {
        let mut values = Self::default();
        values.set("j", info.hostname.clone());
        values.set("daemon_name", info.daemon_name.clone());
        values.set("v", format!("Postern {}", env!("CARGO_PKG_VERSION")));
        if let Some(addr) = info.daemon_addr {
            values.set("daemon_addr", addr.ip().to_string());
            values.set("daemon_port", addr.port().to_string());
        }
        let name = info.client_name.as_deref().unwrap_or("unknown");
        let ptr = info.client_ptr.as_deref().unwrap_or("unknown");
        values.set("client_name", name.to_string());
        values.set("client_ptr", ptr.to_string());
        match info.client_addr {
            Some(addr) => {
                // Postfix's `_`: the reverse name and the address, flagged when the reverse
                // name did not verify.
                let mut underscore = format!("{ptr} [{}]", addr.ip());
                if !name.eq_ignore_ascii_case(ptr) {
                    underscore.push_str(" (may be forged)");
                }
                values.set("_", underscore);
                // Postfix writes IPv6 clients in their address-literal form here.
                let client_addr = match addr {
                    SocketAddr::V4(v4) => v4.ip().to_string(),
                    SocketAddr::V6(v6) => format!("IPv6:{}", v6.ip()),
                };
                values.set("client_addr", client_addr);
                values.set("client_port", addr.port().to_string());
            }
            None => {
                values.set("_", "localhost [127.0.0.1]".to_string());
                values.set("client_addr", "127.0.0.1".to_string());
                values.set("client_port", "0".to_string());
            }
        }
        values
    }

    pub fn set_tls(&mut self, tls: &TlsInfo) {
        self.set("tls_version", tls.version.clone());
        self.set("cipher", tls.cipher.clone());
        self.set("cipher_bits", tls.cipher_bits.to_string());
        self.set_opt("cert_subject", tls.cert_subject.clone());
        self.set_opt("cert_issuer", tls.cert_issuer.clone());
    }

    pub fn set_mail(&mut self, sender: &str, mail: &MailMacros) {
        self.clear_message();
        self.set("mail_addr", sender.to_string());
        self.set_opt("i", mail.queue_id.clone());
        self.set_opt("auth_type", mail.auth_type.clone());
        self.set_opt("auth_authen", mail.auth_authen.clone());
        self.set_opt("auth_author", mail.auth_author.clone());
        if let Some(route) = &mail.route {
            self.set("mail_mailer", route.mailer.clone());
            self.set("mail_host", route.host.clone());
        }
    }

    pub fn set_rcpt(&mut self, recipient: &str, route: Option<&Route>) {
        self.set("rcpt_addr", recipient.to_string());
        self.remove(&["rcpt_mailer", "rcpt_host"]);
        if let Some(route) = route {
            self.set("rcpt_mailer", route.mailer.clone());
            self.set("rcpt_host", route.host.clone());
        }
    }

    pub fn set_queue_id(&mut self, id: &str) {
        self.set("i", id.to_string());
    }

    /// Forgets the values of the message that ended.
    pub fn clear_message(&mut self) {
        self.remove(&[
            "i",
            "mail_addr",
            "mail_host",
            "mail_mailer",
            "auth_type",
            "auth_authen",
            "auth_author",
            "rcpt_addr",
            "rcpt_host",
            "rcpt_mailer",
        ]);
    }

    /// Name/value pairs for a space-separated name list; names spelled as listed, names
    /// without a value left out (as Postfix does).
    pub fn lookup(&self, names: &str) -> Vec<(String, String)> {
        names
            .split_ascii_whitespace()
            .filter_map(|name| {
                let value = self.values.get(milter_bare_name(name))?;
                Some((name.to_string(), value.clone()))
            })
            .collect()
    }

    fn set(&mut self, name: &'static str, value: String) {
        self.values.insert(name, value);
    }

    fn set_opt(&mut self, name: &'static str, value: Option<String>) {
        match value {
            Some(value) => self.set(name, value),
            None => {
                self.values.remove(name);
            }
        }
    }

    fn remove(&mut self, names: &[&'static str]) {
        for name in names {
            self.values.remove(name);
        }
    }
}

/// `{name}` and `name` are the same macro.
fn milter_bare_name(name: &str) -> &str {
    name.strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnectInfo {
        ConnectInfo {
            hostname: "mx.example.org".into(),
            daemon_name: "submission".into(),
            daemon_addr: "192.0.2.1:587".parse().ok(),
            client_addr: "198.51.100.7:40000".parse().ok(),
            client_name: Some("client.example.net".into()),
            client_ptr: Some("client.example.net".into()),
        }
    }

    #[test]
    fn connect_values_as_postfix_spells_them() {
        let values = MacroValues::from_connect(&info());
        let got = values.lookup(CONNECT_MACROS);
        let expected = [
            ("j", "mx.example.org"),
            ("{daemon_name}", "submission"),
            ("{daemon_addr}", "192.0.2.1"),
            ("v", concat!("Postern ", env!("CARGO_PKG_VERSION"))),
            ("_", "client.example.net [198.51.100.7]"),
            ("{client_addr}", "198.51.100.7"),
            ("{client_name}", "client.example.net"),
            ("{client_port}", "40000"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn unverified_and_ipv6_clients() {
        let mut connect = info();
        connect.client_name = None;
        connect.client_ptr = Some("liar.example".into());
        connect.client_addr = "[2001:db8::7]:25".parse().ok();
        let values = MacroValues::from_connect(&connect);
        let got = values.lookup("_ {client_addr} {client_name} {client_ptr}");
        assert_eq!(got[0].1, "liar.example [2001:db8::7] (may be forged)");
        assert_eq!(got[1].1, "IPv6:2001:db8::7");
        assert_eq!(got[2].1, "unknown");
        assert_eq!(got[3].1, "liar.example");
        assert_eq!(connect.connect_hostname(), "[2001:db8::7]");
    }

    #[test]
    fn message_values_come_and_go() {
        let mut values = MacroValues::from_connect(&info());
        let mail = MailMacros {
            queue_id: None,
            auth_type: Some("PLAIN".into()),
            auth_authen: Some("alice".into()),
            auth_author: None,
            route: Some(Route {
                mailer: "smtp".into(),
                host: "example.com".into(),
            }),
        };
        values.set_mail("alice@example.com", &mail);
        assert_eq!(
            values.lookup(MAIL_MACROS),
            [
                ("{auth_type}".to_string(), "PLAIN".to_string()),
                ("{auth_authen}".into(), "alice".into()),
                ("{mail_addr}".into(), "alice@example.com".into()),
                ("{mail_host}".into(), "example.com".into()),
                ("{mail_mailer}".into(), "smtp".into()),
            ]
        );
        values.set_queue_id("4ABC");
        values.set_rcpt("bob@example.net", None);
        assert_eq!(
            values.lookup(RCPT_MACROS),
            [
                ("i".to_string(), "4ABC".to_string()),
                ("{rcpt_addr}".into(), "bob@example.net".into()),
            ]
        );
        values.clear_message();
        assert!(values.lookup(MAIL_MACROS).is_empty());
        assert_eq!(values.lookup("j").len(), 1);
    }
}
