//! MTA-to-filter commands (`SMFIC_*`): the typed [`Command`], parsed from and encoded to
//! packets.

use std::net::{IpAddr, SocketAddr};

use crate::options::OptNeg;
use crate::wire::{Reader, put_cstr};
use crate::{ProtocolError, frame};

/// `SMFIC_*` command bytes.
pub mod code {
    /// `SMFIC_ABORT`
    pub const ABORT: u8 = b'A';
    /// `SMFIC_BODY`
    pub const BODY: u8 = b'B';
    /// `SMFIC_CONNECT`
    pub const CONNECT: u8 = b'C';
    /// `SMFIC_MACRO`
    pub const MACRO: u8 = b'D';
    /// `SMFIC_BODYEOB`
    pub const BODYEOB: u8 = b'E';
    /// `SMFIC_HELO`
    pub const HELO: u8 = b'H';
    /// `SMFIC_QUIT_NC`
    pub const QUIT_NC: u8 = b'K';
    /// `SMFIC_HEADER`
    pub const HEADER: u8 = b'L';
    /// `SMFIC_MAIL`
    pub const MAIL: u8 = b'M';
    /// `SMFIC_EOH`
    pub const EOH: u8 = b'N';
    /// `SMFIC_OPTNEG`
    pub const OPTNEG: u8 = b'O';
    /// `SMFIC_QUIT`
    pub const QUIT: u8 = b'Q';
    /// `SMFIC_RCPT`
    pub const RCPT: u8 = b'R';
    /// `SMFIC_DATA`
    pub const DATA: u8 = b'T';
    /// `SMFIC_UNKNOWN`
    pub const UNKNOWN: u8 = b'U';
}

/// `SMFIA_*` address families in CONNECT.
mod family {
    pub const UNKNOWN: u8 = b'U';
    pub const UNIX: u8 = b'L';
    pub const INET: u8 = b'4';
    pub const INET6: u8 = b'6';
}

/// The client address in CONNECT, as text the way the MTA sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectAddress {
    /// `U`: no address (e.g. a local submission).
    Unknown,
    /// `L`: a UNIX-domain socket path.
    Unix(Vec<u8>),
    /// `4`: an IPv4 address and port.
    Inet {
        /// Client port.
        port: u16,
        /// Address text, e.g. `192.0.2.1`.
        address: Vec<u8>,
    },
    /// `6`: an IPv6 address and port.
    Inet6 {
        /// Client port.
        port: u16,
        /// Address text; Sendmail prefixes `IPv6:`, Postfix does not.
        address: Vec<u8>,
    },
}

impl ConnectAddress {
    /// The address for an IP socket address, as Postfix formats it.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        let address = addr.ip().to_string().into_bytes();
        match addr {
            SocketAddr::V4(_) => ConnectAddress::Inet {
                port: addr.port(),
                address,
            },
            SocketAddr::V6(_) => ConnectAddress::Inet6 {
                port: addr.port(),
                address,
            },
        }
    }

    /// The IP socket address, if this is an IP family and the text parses. Accepts Sendmail's
    /// `IPv6:` prefix and drops an IPv6 zone (`%eth0`).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let (port, text) = match self {
            ConnectAddress::Inet { port, address } | ConnectAddress::Inet6 { port, address } => {
                (*port, std::str::from_utf8(address).ok()?)
            }
            ConnectAddress::Unknown | ConnectAddress::Unix(_) => return None,
        };
        let text = text.strip_prefix("IPv6:").unwrap_or(text);
        let text = text.split('%').next().unwrap_or(text);
        let ip: IpAddr = text.parse().ok()?;
        match (self, ip) {
            (ConnectAddress::Inet { .. }, IpAddr::V4(_))
            | (ConnectAddress::Inet6 { .. }, IpAddr::V6(_)) => Some(SocketAddr::new(ip, port)),
            _ => None,
        }
    }
}

/// One MTA-to-filter command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: option negotiation offer.
    OptNeg(OptNeg),
    /// `D`: macros for the command named by `command`, as name/value pairs.
    Macro {
        /// The command byte these macros precede.
        command: u8,
        /// Name/value pairs; names as sent (`i`, `{auth_authen}`).
        macros: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// `C`: SMTP client connection.
    Connect {
        /// Client host name (Postfix: `[addr]` when unknown).
        hostname: Vec<u8>,
        /// Client address.
        address: ConnectAddress,
    },
    /// `H`: HELO/EHLO argument.
    Helo(Vec<u8>),
    /// `M`: sender and ESMTP arguments.
    Mail(Vec<Vec<u8>>),
    /// `R`: recipient and ESMTP arguments.
    Rcpt(Vec<Vec<u8>>),
    /// `T`: the DATA command.
    Data,
    /// `L`: one header; folded lines are joined with bare LF.
    Header {
        /// Header name.
        name: Vec<u8>,
        /// Header value.
        value: Vec<u8>,
    },
    /// `N`: end of headers.
    EndOfHeaders,
    /// `B`: one body chunk (CRLF line ends).
    Body(Vec<u8>),
    /// `E`: end of message, optionally carrying a final body chunk (usually empty).
    EndOfMessage(Vec<u8>),
    /// `A`: abort the current message.
    Abort,
    /// `Q`: close the connection.
    Quit,
    /// `K`: end this SMTP session, another follows on the same connection.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not recognise.
    Unknown(Vec<u8>),
}

impl Command {
    /// The `SMFIC_*` byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg(_) => code::OPTNEG,
            Command::Macro { .. } => code::MACRO,
            Command::Connect { .. } => code::CONNECT,
            Command::Helo(_) => code::HELO,
            Command::Mail(_) => code::MAIL,
            Command::Rcpt(_) => code::RCPT,
            Command::Data => code::DATA,
            Command::Header { .. } => code::HEADER,
            Command::EndOfHeaders => code::EOH,
            Command::Body(_) => code::BODY,
            Command::EndOfMessage(_) => code::BODYEOB,
            Command::Abort => code::ABORT,
            Command::Quit => code::QUIT,
            Command::QuitNewConnection => code::QUIT_NC,
            Command::Unknown(_) => code::UNKNOWN,
        }
    }

    /// Parses one packet's command byte and payload.
    pub fn parse(code: u8, payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(code, payload);
        let command = match code {
            code::OPTNEG => return OptNeg::parse(code, payload).map(Command::OptNeg),
            code::MACRO => {
                let command = reader.u8()?;
                let mut strings = reader.cstrs()?.into_iter();
                let mut macros = Vec::new();
                while let Some(name) = strings.next() {
                    let value = strings.next().ok_or(ProtocolError::Malformed {
                        code,
                        reason: "macro name without value",
                    })?;
                    macros.push((name, value));
                }
                Command::Macro { command, macros }
            }
            code::CONNECT => {
                let hostname = reader.cstr()?.to_vec();
                let address = match reader.u8()? {
                    family::UNKNOWN => {
                        // Sendmail may leave port and address bytes behind; they mean nothing.
                        reader.rest();
                        ConnectAddress::Unknown
                    }
                    family::UNIX => {
                        reader.u16()?;
                        ConnectAddress::Unix(reader.cstr()?.to_vec())
                    }
                    family::INET => {
                        let port = reader.u16()?;
                        ConnectAddress::Inet {
                            port,
                            address: reader.cstr()?.to_vec(),
                        }
                    }
                    family::INET6 => {
                        let port = reader.u16()?;
                        ConnectAddress::Inet6 {
                            port,
                            address: reader.cstr()?.to_vec(),
                        }
                    }
                    other => return Err(ProtocolError::UnknownFamily(other)),
                };
                Command::Connect { hostname, address }
            }
            code::HELO => Command::Helo(reader.cstr()?.to_vec()),
            code::MAIL | code::RCPT => {
                let args = reader.cstrs()?;
                if args.is_empty() {
                    return Err(ProtocolError::Malformed {
                        code,
                        reason: "no address",
                    });
                }
                if code == code::MAIL {
                    Command::Mail(args)
                } else {
                    Command::Rcpt(args)
                }
            }
            code::DATA => Command::Data,
            code::HEADER => {
                let name = reader.cstr()?.to_vec();
                let value = reader.cstr()?.to_vec();
                Command::Header { name, value }
            }
            code::EOH => Command::EndOfHeaders,
            code::BODY => Command::Body(reader.rest().to_vec()),
            code::BODYEOB => Command::EndOfMessage(reader.rest().to_vec()),
            code::ABORT => Command::Abort,
            code::QUIT => Command::Quit,
            code::QUIT_NC => Command::QuitNewConnection,
            code::UNKNOWN => Command::Unknown(reader.cstr()?.to_vec()),
            other => return Err(ProtocolError::UnknownCommand(other)),
        };
        reader.finish()?;
        Ok(command)
    }

    /// Appends the framed packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        frame::encode_with(self.code(), out, |out| self.encode_payload(out));
    }

    /// Appends the payload (without framing) to `out`.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Command::OptNeg(optneg) => optneg.encode_payload(out),
            Command::Macro { command, macros } => {
                out.push(*command);
                for (name, value) in macros {
                    put_cstr(out, name);
                    put_cstr(out, value);
                }
            }
            Command::Connect { hostname, address } => {
                put_cstr(out, hostname);
                match address {
                    ConnectAddress::Unknown => out.push(family::UNKNOWN),
                    ConnectAddress::Unix(path) => {
                        out.push(family::UNIX);
                        out.extend_from_slice(&[0, 0]);
                        put_cstr(out, path);
                    }
                    ConnectAddress::Inet { port, address } => {
                        put_inet(out, family::INET, *port, address)
                    }
                    ConnectAddress::Inet6 { port, address } => {
                        put_inet(out, family::INET6, *port, address)
                    }
                }
            }
            Command::Helo(text) | Command::Unknown(text) => put_cstr(out, text),
            Command::Mail(args) | Command::Rcpt(args) => {
                for arg in args {
                    put_cstr(out, arg);
                }
            }
            Command::Header { name, value } => {
                put_cstr(out, name);
                put_cstr(out, value);
            }
            Command::Body(chunk) | Command::EndOfMessage(chunk) => out.extend_from_slice(chunk),
            Command::Data
            | Command::EndOfHeaders
            | Command::Abort
            | Command::Quit
            | Command::QuitNewConnection => {}
        }
    }
}

fn put_inet(out: &mut Vec<u8>, family: u8, port: u16, address: &[u8]) {
    out.push(family);
    out.extend_from_slice(&port.to_be_bytes());
    put_cstr(out, address);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Actions, ProtocolFlags};

    fn framed(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::encode(code, payload, &mut out);
        out
    }

    /// Each command, its exact payload, both directions.
    #[test]
    fn every_command_round_trips_through_literal_bytes() {
        let cases: Vec<(Command, &[u8])> = vec![
            (
                Command::OptNeg(OptNeg {
                    version: 6,
                    actions: Actions::all(),
                    protocol: ProtocolFlags::from_bits_retain(0x1f_ffff),
                    macros: vec![],
                }),
                b"O\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff",
            ),
            (
                Command::Macro {
                    command: b'C',
                    macros: vec![
                        (b"j".to_vec(), b"mx.example".to_vec()),
                        (b"{daemon_name}".to_vec(), b"".to_vec()),
                    ],
                },
                b"DCj\0mx.example\0{daemon_name}\0\0",
            ),
            (
                Command::Macro {
                    command: b'T',
                    macros: vec![],
                },
                b"DT",
            ),
            (
                Command::Connect {
                    hostname: b"mail.example".to_vec(),
                    address: ConnectAddress::Inet {
                        port: 25,
                        address: b"192.0.2.1".to_vec(),
                    },
                },
                b"Cmail.example\x004\0\x19192.0.2.1\0",
            ),
            (
                Command::Connect {
                    hostname: b"[2001:db8::1]".to_vec(),
                    address: ConnectAddress::Inet6 {
                        port: 0x1234,
                        address: b"2001:db8::1".to_vec(),
                    },
                },
                b"C[2001:db8::1]\x006\x12\x342001:db8::1\0",
            ),
            (
                Command::Connect {
                    hostname: b"localhost".to_vec(),
                    address: ConnectAddress::Unix(b"/run/s".to_vec()),
                },
                b"Clocalhost\0L\0\0/run/s\0",
            ),
            (
                Command::Connect {
                    hostname: b"localhost".to_vec(),
                    address: ConnectAddress::Unknown,
                },
                b"Clocalhost\0U",
            ),
            (
                Command::Helo(b"client.example".to_vec()),
                b"Hclient.example\0",
            ),
            (
                Command::Mail(vec![b"<a@example.org>".to_vec(), b"SIZE=10".to_vec()]),
                b"M<a@example.org>\0SIZE=10\0",
            ),
            (
                Command::Rcpt(vec![b"<b@example.net>".to_vec()]),
                b"R<b@example.net>\0",
            ),
            (Command::Data, b"T"),
            (
                Command::Header {
                    name: b"Subject".to_vec(),
                    value: b" hi\n\tthere".to_vec(),
                },
                b"LSubject\0 hi\n\tthere\0",
            ),
            (
                Command::Header {
                    name: b"X-Empty".to_vec(),
                    value: vec![],
                },
                b"LX-Empty\0\0",
            ),
            (Command::EndOfHeaders, b"N"),
            (Command::Body(b"line\r\n".to_vec()), b"Bline\r\n"),
            (Command::EndOfMessage(vec![]), b"E"),
            (Command::EndOfMessage(b"tail\r\n".to_vec()), b"Etail\r\n"),
            (Command::Abort, b"A"),
            (Command::Quit, b"Q"),
            (Command::QuitNewConnection, b"K"),
            (Command::Unknown(b"XFOO bar".to_vec()), b"UXFOO bar\0"),
        ];
        for (command, bytes) in cases {
            let (&code, payload) = bytes.split_first().unwrap();
            assert_eq!(command.code(), code, "{command:?}");
            assert_eq!(
                Command::parse(code, payload).unwrap(),
                command,
                "{command:?}"
            );
            let mut out = Vec::new();
            command.encode(&mut out);
            assert_eq!(out, framed(code, payload), "{command:?}");
        }
    }

    #[test]
    fn sendmail_unknown_family_with_leftovers() {
        let parsed = Command::parse(b'C', b"host\0U\0\0junk\0").unwrap();
        assert_eq!(
            parsed,
            Command::Connect {
                hostname: b"host".to_vec(),
                address: ConnectAddress::Unknown
            }
        );
    }

    #[test]
    fn malformed_commands_are_errors() {
        let cases: Vec<(u8, &[u8], ProtocolError)> = vec![
            (b'H', b"no-nul", ProtocolError::MissingNul { code: b'H' }),
            (
                b'L',
                b"Subject\0value",
                ProtocolError::MissingNul { code: b'L' },
            ),
            (b'L', b"Subject", ProtocolError::MissingNul { code: b'L' }),
            (
                b'M',
                b"",
                ProtocolError::Malformed {
                    code: b'M',
                    reason: "no address",
                },
            ),
            (b'M', b"<a>\0SIZE", ProtocolError::MissingNul { code: b'M' }),
            (b'C', b"host\0", ProtocolError::Truncated { code: b'C' }),
            (
                b'C',
                b"host\x004\0",
                ProtocolError::Truncated { code: b'C' },
            ),
            (
                b'C',
                b"host\x004\0\x19",
                ProtocolError::MissingNul { code: b'C' },
            ),
            (b'C', b"host\0X", ProtocolError::UnknownFamily(b'X')),
            (b'D', b"", ProtocolError::Truncated { code: b'D' }),
            (
                b'D',
                b"Ci\0",
                ProtocolError::Malformed {
                    code: b'D',
                    reason: "macro name without value",
                },
            ),
            (b'T', b"x", ProtocolError::TrailingData { code: b'T' }),
            (b'H', b"a\0b", ProtocolError::TrailingData { code: b'H' }),
            (b'O', b"\0\0\0\x06", ProtocolError::Truncated { code: b'O' }),
            (b'Z', b"", ProtocolError::UnknownCommand(b'Z')),
            (b'c', b"", ProtocolError::UnknownCommand(b'c')),
        ];
        for (code, payload, error) in cases {
            assert_eq!(
                Command::parse(code, payload),
                Err(error),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn connect_socket_addr() {
        let v4 = ConnectAddress::Inet {
            port: 25,
            address: b"192.0.2.1".to_vec(),
        };
        assert_eq!(v4.socket_addr(), Some("192.0.2.1:25".parse().unwrap()));
        let sendmail_v6 = ConnectAddress::Inet6 {
            port: 25,
            address: b"IPv6:2001:db8::1".to_vec(),
        };
        assert_eq!(
            sendmail_v6.socket_addr(),
            Some("[2001:db8::1]:25".parse().unwrap())
        );
        let zoned = ConnectAddress::Inet6 {
            port: 1,
            address: b"fe80::1%eth0".to_vec(),
        };
        assert_eq!(zoned.socket_addr(), Some("[fe80::1]:1".parse().unwrap()));
        let mismatch = ConnectAddress::Inet {
            port: 1,
            address: b"::1".to_vec(),
        };
        assert_eq!(mismatch.socket_addr(), None);
        assert_eq!(
            ConnectAddress::Inet {
                port: 1,
                address: b"unknown".to_vec()
            }
            .socket_addr(),
            None
        );
        assert_eq!(ConnectAddress::Unix(b"/x".to_vec()).socket_addr(), None);
        let addr: SocketAddr = "[2001:db8::2]:587".parse().unwrap();
        assert_eq!(
            ConnectAddress::from_socket_addr(addr).socket_addr(),
            Some(addr)
        );
    }
}
