//! IP networks in CIDR notation, for client allow lists such as "internal networks".

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `::1/128`; a bare address is a host route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `addr` lies in this network. An IPv4 network never contains an IPv6 address,
    /// nor the other way round (map `::ffff:a.b.c.d` with `to_canonical` first if needed).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.address, addr) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = v4_mask(self.prefix);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = v6_mask(self.prefix);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address_text, prefix_text) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address_text
            .parse()
            .map_err(|_| format!("{text:?} is not an IP network like 10.0.0.0/8 or ::1/128"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= max => prefix,
                _ => return Err(format!("{text:?}: prefix length must be 0 to {max}")),
            },
        };
        let network = match address {
            IpAddr::V4(v4) => IpAddr::from((u32::from(v4) & v4_mask(prefix)).to_be_bytes()),
            IpAddr::V6(v6) => IpAddr::from((u128::from(v6) & v6_mask(prefix)).to_be_bytes()),
        };
        if network != address {
            return Err(format!(
                "{text:?} has host bits set; the network is {network}/{prefix}"
            ));
        }
        Ok(IpNetwork { address, prefix })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNetwork {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("::1/128").to_string(), "::1/128");
        assert_eq!(net("192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(net("2001:db8::1").to_string(), "2001:db8::1/128");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(net("::/0").to_string(), "::/0");
    }

    #[test]
    fn rejects_host_bits_naming_the_network() {
        assert_eq!(
            "10.1.2.3/8".parse::<IpNetwork>(),
            Err("\"10.1.2.3/8\" has host bits set; the network is 10.0.0.0/8".to_string())
        );
        let e = "2001:db8::1/32"
            .parse::<IpNetwork>()
            .err()
            .unwrap_or_default();
        assert!(e.contains("2001:db8::/32"), "{e}");
    }

    #[test]
    fn rejects_garbage() {
        assert!("10.0.0.0/33".parse::<IpNetwork>().is_err());
        assert!("::/129".parse::<IpNetwork>().is_err());
        assert!("10.0.0/8".parse::<IpNetwork>().is_err());
        assert!("example.org".parse::<IpNetwork>().is_err());
        assert!("10.0.0.0/".parse::<IpNetwork>().is_err());
    }

    #[test]
    fn contains() {
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(net("::1/128").contains(ip("::1")));
        assert!(!net("::/0").contains(ip("127.0.0.1")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(!net("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
    }
}
