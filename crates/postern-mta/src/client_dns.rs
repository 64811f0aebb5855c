//! Who is connecting, by DNS: the client's reverse name (PTR) and whether it is
//! forward-confirmed (the name's A/AAAA records include the address), as Postfix's smtpd
//! finds `client_name` and `reverse_client_name`. The names go into the Received header and
//! the milters' `{client_name}`/`{client_ptr}`; listeners may refuse clients without them
//! (`reject_unknown_reverse_client_hostname`, `reject_unknown_client_hostname`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use runtime::config::IpNetwork;
use smtp::Reply;

/// PTR names tried for forward confirmation (Postfix stops at the first too).
const MAX_PTR_NAMES: usize = 5;

/// What DNS says about a client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientName {
    /// A PTR name whose A/AAAA records include the address.
    Verified(String),
    /// A PTR name that does not resolve back to the address.
    Unverified(String),
    /// No PTR record (NXDOMAIN or no data).
    None,
    /// The lookup failed (timeout, SERVFAIL): retry later, do not refuse for good.
    TempFail,
    /// Not looked up (loopback, or lookups off).
    NotLooked,
}

impl ClientName {
    /// `client_name` as Postfix logs it: the verified name or `unknown`.
    pub fn verified(&self) -> Option<&str> {
        match self {
            ClientName::Verified(name) => Some(name),
            _ => None,
        }
    }

    /// `reverse_client_name`: the PTR name, verified or not.
    pub fn ptr(&self) -> Option<&str> {
        match self {
            ClientName::Verified(name) | ClientName::Unverified(name) => Some(name),
            _ => None,
        }
    }
}

/// The listener's demands on the client's DNS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameChecks {
    /// A PTR record is needed (`reject_unknown_reverse_client_hostname`).
    pub require_ptr: bool,
    /// Forward-confirmed reverse DNS is needed (`reject_unknown_client_hostname`).
    pub require_fcrdns: bool,
}

impl NameChecks {
    /// The refusal for `name` from `ip`, if any: 550 when DNS answered, 450 when it did not
    /// (the client may try again once DNS works), with RFC 7372's 5.7.25.
    pub fn refusal(&self, ip: IpAddr, name: &ClientName) -> Option<Reply> {
        let (temporary, text) = match name {
            ClientName::NotLooked | ClientName::Verified(_) => return None,
            ClientName::TempFail if self.require_ptr || self.require_fcrdns => {
                (true, "cannot find your hostname (DNS failure)")
            }
            ClientName::None if self.require_ptr || self.require_fcrdns => {
                (false, "cannot find your reverse hostname")
            }
            ClientName::Unverified(_) if self.require_fcrdns => (
                false,
                "cannot find your hostname (reverse DNS does not match)",
            ),
            _ => return None,
        };
        let text = format!("Client host rejected: {text}, [{ip}]");
        Some(if temporary {
            Reply::new(450, Some((4, 7, 25)), text)
        } else {
            Reply::new(550, Some((5, 7, 25)), text)
        })
    }
}

/// The resolver and what not to look up.
#[derive(Debug)]
pub struct ClientDns {
    resolver: Resolver<TokioRuntimeProvider>,
    skip: Vec<IpNetwork>,
    timeout: Duration,
}

impl ClientDns {
    /// The system's resolvers (`/etc/resolv.conf`), or `nameservers` when given.
    pub fn new(
        nameservers: &[SocketAddr],
        skip: Vec<IpNetwork>,
        timeout: Duration,
    ) -> Result<ClientDns, String> {
        let mut builder = if nameservers.is_empty() {
            Resolver::builder_tokio().map_err(|e| e.to_string())?
        } else {
            let servers = nameservers
                .iter()
                .map(|address| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = address.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = address.port();
                    NameServerConfig::new(address.ip(), true, vec![udp, tcp])
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioRuntimeProvider::default(),
            )
        };
        builder.options_mut().timeout = timeout;
        builder.options_mut().attempts = 2;
        let resolver = builder.build().map_err(|e| e.to_string())?;
        Ok(ClientDns {
            resolver,
            skip,
            timeout,
        })
    }

    /// The client's names. Never takes much longer than twice the timeout.
    pub async fn lookup(&self, ip: IpAddr) -> ClientName {
        if self.skip.iter().any(|n| n.contains(ip)) {
            return ClientName::NotLooked;
        }
        let bound = self.timeout.saturating_mul(3);
        tokio::time::timeout(bound, self.lookup_unbounded(ip))
            .await
            .unwrap_or(ClientName::TempFail)
    }

    async fn lookup_unbounded(&self, ip: IpAddr) -> ClientName {
        let ptr = match self.resolver.reverse_lookup(Name::from(ip)).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::PTR(name) => Some(name.0.to_ascii()),
                    _ => None,
                })
                .map(|name| name.trim_end_matches('.').to_ascii_lowercase())
                .filter(|name| smtp::Host::parse(name, false).is_ok())
                .take(MAX_PTR_NAMES)
                .collect::<Vec<_>>(),
            Err(e) if e.is_no_records_found() => return ClientName::None,
            Err(_) => return ClientName::TempFail,
        };
        let Some(first) = ptr.first().cloned() else {
            return ClientName::None;
        };
        for name in ptr {
            let fqdn = format!("{name}.");
            let matches = match ip {
                IpAddr::V4(_) => self.resolver.ipv4_lookup(fqdn.as_str()).await,
                IpAddr::V6(_) => self.resolver.ipv6_lookup(fqdn.as_str()).await,
            };
            let Ok(lookup) = matches else { continue };
            let confirmed = lookup.answers().iter().any(|record| match &record.data {
                RData::A(a) => IpAddr::V4(a.0) == ip,
                RData::AAAA(a) => IpAddr::V6(a.0) == ip,
                _ => false,
            });
            if confirmed {
                return ClientName::Verified(name);
            }
        }
        ClientName::Unverified(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_follow_the_listener_checks() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let none = NameChecks::default();
        let ptr = NameChecks {
            require_ptr: true,
            require_fcrdns: false,
        };
        let fcrdns = NameChecks {
            require_ptr: false,
            require_fcrdns: true,
        };
        let unverified = ClientName::Unverified("x.example".into());
        for name in [
            ClientName::None,
            ClientName::TempFail,
            unverified.clone(),
            ClientName::NotLooked,
        ] {
            assert_eq!(none.refusal(ip, &name), None);
        }
        let r = ptr.refusal(ip, &ClientName::None).unwrap();
        assert_eq!(
            r.to_bytes(),
            b"550 5.7.25 Client host rejected: cannot find your reverse hostname, [192.0.2.9]\r\n"
        );
        assert_eq!(ptr.refusal(ip, &unverified), None);
        assert_eq!(ptr.refusal(ip, &ClientName::TempFail).unwrap().code, 450);
        assert_eq!(fcrdns.refusal(ip, &unverified).unwrap().code, 550);
        assert_eq!(fcrdns.refusal(ip, &ClientName::None).unwrap().code, 550);
        assert_eq!(
            fcrdns.refusal(ip, &ClientName::Verified("mail.example".into())),
            None
        );
        assert_eq!(fcrdns.refusal(ip, &ClientName::NotLooked), None);
        assert_eq!(unverified.verified(), None);
        assert_eq!(unverified.ptr(), Some("x.example"));
    }
}
