//! Listen addresses in the spellings mail admins already use (Postfix, OpenDKIM, plain sockets).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

/// Where a daemon listens.
///
/// Parsed from `unix:/path`, `local:/path`, `/path`, `inet:8891@127.0.0.1`,
/// `inet6:8891@[::1]`, `inet:8891` (all interfaces), `127.0.0.1:8891`, `[::1]:8891`;
/// displayed as `unix:/path` or `127.0.0.1:8891`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(path) = text
            .strip_prefix("unix:")
            .or_else(|| text.strip_prefix("local:"))
        {
            return unix_path(path);
        }
        if text.starts_with('/') {
            return unix_path(text);
        }
        if let Some(rest) = text
            .strip_prefix("inet:")
            .or_else(|| text.strip_prefix("inet6:"))
        {
            return milter_inet(text, rest);
        }
        text.parse::<SocketAddr>().map(ListenAddress::Tcp).map_err(|_| {
            format!("{text:?} is not a listen address like unix:/run/postern/x.sock, 127.0.0.1:8891 or [::1]:8891")
        })
    }
}

fn unix_path(path: &str) -> Result<ListenAddress, String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?}: a UNIX socket path must be absolute"));
    }
    if path.ends_with('/') {
        return Err(format!("{path:?}: a UNIX socket path must name a file"));
    }
    Ok(ListenAddress::Unix(PathBuf::from(path)))
}

/// `port@host` as in OpenDKIM's and Postfix's milter addresses; a bare `port` means every
/// interface. `host:port` after the prefix is accepted too.
fn milter_inet(text: &str, rest: &str) -> Result<ListenAddress, String> {
    let invalid = || format!("{text:?} is not an address like inet:8891@127.0.0.1");
    let Some((port, host)) = rest.split_once('@') else {
        if let Ok(port) = rest.parse::<u16>() {
            let any = if text.starts_with("inet6:") {
                IpAddr::from([0u16; 8])
            } else {
                IpAddr::from([0u8; 4])
            };
            return Ok(ListenAddress::Tcp(SocketAddr::new(any, port)));
        }
        return rest.parse().map(ListenAddress::Tcp).map_err(|_| invalid());
    };
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().map_err(|_| {
        format!("{text:?}: {host:?} is not an IP address (host names are not resolved)")
    })?;
    Ok(ListenAddress::Tcp(SocketAddr::new(ip, port)))
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
            ListenAddress::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ListenAddress {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn canonical(text: &str) -> String {
        parse(text).to_string()
    }

    #[test]
    fn unix_spellings() {
        assert_eq!(
            parse("unix:/run/postern/dkim.sock"),
            ListenAddress::Unix("/run/postern/dkim.sock".into())
        );
        assert_eq!(canonical("unix:/run/x.sock"), "unix:/run/x.sock");
        assert_eq!(canonical("local:/run/x.sock"), "unix:/run/x.sock");
        assert_eq!(canonical("/run/x.sock"), "unix:/run/x.sock");
        assert!("unix:run/x.sock".parse::<ListenAddress>().is_err());
        assert!("unix:".parse::<ListenAddress>().is_err());
        assert!("unix:/run/".parse::<ListenAddress>().is_err());
    }

    #[test]
    fn tcp_spellings() {
        assert_eq!(
            parse("127.0.0.1:8891"),
            ListenAddress::Tcp(SocketAddr::from(([127, 0, 0, 1], 8891)))
        );
        assert_eq!(canonical("127.0.0.1:8891"), "127.0.0.1:8891");
        assert_eq!(canonical("[::1]:8891"), "[::1]:8891");
        assert_eq!(canonical("inet:8891@127.0.0.1"), "127.0.0.1:8891");
        assert_eq!(canonical("inet:8891@[::1]"), "[::1]:8891");
        assert_eq!(canonical("inet6:8891@::1"), "[::1]:8891");
        assert_eq!(canonical("inet:8891"), "0.0.0.0:8891");
        assert_eq!(canonical("inet6:8891"), "[::]:8891");
        assert_eq!(canonical("inet:127.0.0.1:8891"), "127.0.0.1:8891");
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "localhost:25",
            "inet:8891@localhost",
            "inet:port@127.0.0.1",
            "127.0.0.1",
            "8891",
            "tcp:1.2.3.4:5",
        ] {
            assert!(text.parse::<ListenAddress>().is_err(), "{text}");
        }
        assert_eq!(
            "inet:8891@localhost".parse::<ListenAddress>(),
            Err("\"inet:8891@localhost\": \"localhost\" is not an IP address (host names are not resolved)".into())
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["unix:/run/a b.sock", "192.0.2.1:25", "[2001:db8::1]:24"] {
            assert_eq!(canonical(&canonical(text)), text);
        }
    }
}
