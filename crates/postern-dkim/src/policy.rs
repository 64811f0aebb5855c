//! Which mail gets signed: mail from authenticated senders, from originating daemons, or from
//! internal networks. Everything else passes untouched.

use std::fmt;
use std::net::IpAddr;

use crate::config::SigningSettings;

/// What the MTA told us about the sender, from the milter macros and CONNECT.
#[derive(Debug, Default, Clone)]
pub struct Origin {
    pub client_addr: Option<IpAddr>,
    pub daemon_name: Option<String>,
    pub auth_authen: Option<String>,
}

/// Why a message qualifies for signing (logged with the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignReason {
    Authenticated(String),
    OriginatingDaemon(String),
    InternalNetwork(IpAddr),
}

impl fmt::Display for SignReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignReason::Authenticated(user) => write!(f, "auth={user}"),
            SignReason::OriginatingDaemon(name) => write!(f, "daemon={name}"),
            SignReason::InternalNetwork(addr) => write!(f, "internal={addr}"),
        }
    }
}

/// Whether mail from `origin` qualifies for signing under `settings`.
pub fn sign_reason(settings: &SigningSettings, origin: &Origin) -> Option<SignReason> {
    if settings.sign_authenticated
        && let Some(user) = origin.auth_authen.as_deref().filter(|u| !u.is_empty())
    {
        return Some(SignReason::Authenticated(user.to_string()));
    }
    if let Some(daemon) = &origin.daemon_name
        && settings
            .originating_daemons
            .iter()
            .any(|d| d.eq_ignore_ascii_case(daemon))
    {
        return Some(SignReason::OriginatingDaemon(daemon.clone()));
    }
    let addr = origin.client_addr?;
    // An IPv4-mapped IPv6 client is matched as IPv4.
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    settings
        .internal_networks
        .iter()
        .any(|net| net.contains(addr))
        .then_some(SignReason::InternalNetwork(addr))
}

/// Parses the `{client_addr}` macro, which Postfix writes as `1.2.3.4`, `IPv6:…` or `::1`.
pub fn parse_client_addr(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_start_matches('[').trim_end_matches(']');
    let text = text
        .strip_prefix("IPv6:")
        .or_else(|| text.strip_prefix("ipv6:"))
        .unwrap_or(text);
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addr_forms() {
        assert_eq!(
            parse_client_addr("192.0.2.1"),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            parse_client_addr("IPv6:2001:db8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(parse_client_addr("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_client_addr("unknown"), None);
    }
}
