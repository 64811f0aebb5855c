//! What the client writes: the handshake, `AUTH` with its parameters, and `CONT`.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::escape::escape_into;
use crate::reply::{MAJOR_VERSION, MINOR_VERSION};

/// What the server learns about the connection being authenticated, sent with each `AUTH`.
/// Dovecot uses it for logging, `%{rip}`-style variables, the failure penalty per address,
/// and `disable_plaintext_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// `service=`: `smtp` for an MTA (Dovecot's `%s`, and passdb `protocol` matching).
    pub service: String,
    /// `secured`: the SMTP connection is TLS (or otherwise trusted). Without it Dovecot
    /// refuses plaintext mechanisms unless `disable_plaintext_auth = no`.
    pub secured: bool,
    /// `nologin`: only authenticate, nobody will pick up a login; as Postfix does. Without it
    /// Dovecot keeps successful requests around for a master process that never comes.
    pub no_login: bool,
    /// `lip=`: the address the SMTP client connected to.
    pub local_ip: Option<IpAddr>,
    /// `rip=`: the SMTP client's address (Dovecot's failure penalty is per address).
    pub remote_ip: Option<IpAddr>,
    /// `lport=`.
    pub local_port: Option<u16>,
    /// `rport=`.
    pub remote_port: Option<u16>,
    /// `local_name=`: the TLS SNI name the client asked for.
    pub local_name: Option<String>,
    /// `session=`: the SMTP session id, so both logs can be matched.
    pub session: Option<String>,
}

impl AuthParams {
    /// Parameters for `service`, not secured, `nologin`, nothing else known.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            secured: false,
            no_login: true,
            local_ip: None,
            remote_ip: None,
            local_port: None,
            remote_port: None,
            local_name: None,
            session: None,
        }
    }
}

/// `VERSION TAB 1 TAB 2` and `CPID TAB pid`: sent at once, without waiting for the server
/// (Dovecot 2.4 only greets after it).
pub(crate) fn handshake(out: &mut Vec<u8>, client_pid: u32) {
    out.extend_from_slice(
        format!("VERSION\t{MAJOR_VERSION}\t{MINOR_VERSION}\nCPID\t{client_pid}\n").as_bytes(),
    );
}

/// `AUTH TAB id TAB mechanism TAB service=.. [TAB secured] [TAB nologin] ... [TAB resp=..]`.
/// `resp=` comes last: Dovecot rejects parameters after it.
pub(crate) fn auth(
    out: &mut Vec<u8>,
    id: u32,
    mechanism: &str,
    params: &AuthParams,
    initial: Option<&[u8]>,
) {
    out.extend_from_slice(format!("AUTH\t{id}\t").as_bytes());
    escape_into(mechanism.as_bytes(), out);
    field(out, "service", params.service.as_bytes());
    if params.secured {
        out.extend_from_slice(b"\tsecured");
    }
    if params.no_login {
        out.extend_from_slice(b"\tnologin");
    }
    if let Some(ip) = params.local_ip {
        field(out, "lip", ip.to_string().as_bytes());
    }
    if let Some(ip) = params.remote_ip {
        field(out, "rip", ip.to_string().as_bytes());
    }
    if let Some(port) = params.local_port {
        field(out, "lport", port.to_string().as_bytes());
    }
    if let Some(port) = params.remote_port {
        field(out, "rport", port.to_string().as_bytes());
    }
    if let Some(name) = &params.local_name {
        field(out, "local_name", name.as_bytes());
    }
    if let Some(session) = &params.session {
        field(out, "session", session.as_bytes());
    }
    if let Some(initial) = initial {
        // Empty is `resp=`: protocol 1.2 tells it from an absent response.
        out.extend_from_slice(b"\tresp=");
        out.extend_from_slice(STANDARD.encode(initial).as_bytes());
    }
    out.push(b'\n');
}

/// `CONT TAB id TAB base64(data)`.
pub(crate) fn cont(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    out.extend_from_slice(format!("CONT\t{id}\t{}\n", STANDARD.encode(data)).as_bytes());
}

fn field(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.push(b'\t');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    escape_into(value, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_line_like_postfix_plus_optional_fields() {
        let mut params = AuthParams::new("smtp");
        params.secured = true;
        params.local_ip = Some("192.0.2.25".parse().unwrap());
        params.remote_ip = Some("2001:db8::7".parse().unwrap());
        params.remote_port = Some(50123);
        params.session = Some("s\t1".into());
        let mut out = Vec::new();
        auth(&mut out, 3, "PLAIN", &params, Some(b"\0a\0b"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "AUTH\t3\tPLAIN\tservice=smtp\tsecured\tnologin\tlip=192.0.2.25\t\
             rip=2001:db8::7\trport=50123\tsession=s\x01t1\tresp=AGEAYg==\n"
        );
    }

    #[test]
    fn empty_initial_response_is_an_empty_resp() {
        let mut out = Vec::new();
        auth(&mut out, 1, "LOGIN", &AuthParams::new("smtp"), Some(b""));
        assert_eq!(out, b"AUTH\t1\tLOGIN\tservice=smtp\tnologin\tresp=\n");
    }
}
