//! What the server offers, read from its EHLO/LHLO reply (RFC 5321 4.1.1.1): the extensions
//! the client acts on, and the AUTH mechanisms. Unknown keywords are ignored, so a server with
//! extensions we have never heard of still works.

use crate::reply::Reply;

/// Mechanisms kept from AUTH lines; more is a broken or hostile server.
const MAX_MECHANISMS: usize = 32;
/// Longest mechanism name kept (RFC 4422 3.1: 20 characters; room for odd ones).
const MAX_MECHANISM_LEN: usize = 64;
/// Longest server name kept from the first line.
const MAX_HOSTNAME_LEN: usize = 255;

/// The extensions a server announced. After HELO (EHLO refused) everything is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one switch per extension is the point
pub struct Capabilities {
    /// The server's name for itself: the first word of the reply.
    pub hostname: String,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870) was announced.
    pub size: bool,
    /// The SIZE limit in octets; `None` when none was given or it was 0 (no fixed limit).
    pub max_size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030): BDAT.
    pub chunking: bool,
    /// BINARYMIME (RFC 3030).
    pub binarymime: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// AUTH mechanisms (RFC 4954), upper case, in the server's order; empty if no AUTH.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads a 2xx EHLO/LHLO reply: the first line names the server, each further line is a
    /// keyword with parameters. Keywords are case-insensitive. Also reads the pre-standard
    /// `AUTH=LOGIN PLAIN` form that old servers send next to or instead of `AUTH`.
    pub fn from_ehlo(reply: &Reply) -> Self {
        let mut caps = Self::default();
        let mut lines = reply.text.iter();
        if let Some(first) = lines.next() {
            caps.hostname = first
                .split_ascii_whitespace()
                .next()
                .unwrap_or_default()
                .chars()
                .take(MAX_HOSTNAME_LEN)
                .collect();
        }
        for line in lines {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            if let Some(first) = keyword.strip_prefix("AUTH=") {
                caps.add_mechanisms(std::iter::once(first).chain(words));
                continue;
            }
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => {
                    caps.size = true;
                    // Unparsable limits are read as "none": the server enforces its own.
                    caps.max_size = words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .filter(|&n| n > 0);
                }
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "CHUNKING" => caps.chunking = true,
                "BINARYMIME" => caps.binarymime = true,
                "STARTTLS" => caps.starttls = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "DSN" => caps.dsn = true,
                "AUTH" => caps.add_mechanisms(words),
                _ => {}
            }
        }
        caps
    }

    /// Whether `mechanism` (any case) is offered for AUTH.
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    fn add_mechanisms<'a>(&mut self, words: impl Iterator<Item = &'a str>) {
        for word in words {
            let valid = !word.is_empty()
                && word.len() <= MAX_MECHANISM_LEN
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid || self.offers_auth(word) {
                continue;
            }
            if self.auth.len() >= MAX_MECHANISMS {
                return;
            }
            self.auth.push(word.to_ascii_uppercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn ehlo(lines: &[&str]) -> Capabilities {
        Capabilities::from_ehlo(&Reply::multiline(
            250,
            None,
            lines.iter().map(|&l| l.to_owned()).collect(),
        ))
    }

    #[test]
    fn rfc5321_d1_and_a_full_list() {
        let caps = ehlo(&["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"]);
        assert_eq!(caps.hostname, "foo.com");
        assert!(caps.eight_bit_mime && caps.size && caps.dsn);
        assert_eq!(caps.max_size, None);
        assert!(!caps.pipelining && !caps.chunking && !caps.starttls);

        let caps = ehlo(&[
            "mx.example.org",
            "pipelining",
            "SIZE 10240000",
            "STARTTLS",
            "AUTH PLAIN login XOAUTH2",
            "AUTH=LOGIN PLAIN",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            "SMTPUTF8",
            "CHUNKING",
            "BINARYMIME",
            "X-UNKNOWN whatever",
        ]);
        assert!(caps.pipelining && caps.starttls && caps.enhanced_status_codes);
        assert!(caps.smtputf8 && caps.chunking && caps.binarymime);
        assert_eq!(caps.max_size, Some(10_240_000));
        assert_eq!(caps.auth, ["PLAIN", "LOGIN", "XOAUTH2"]);
        assert!(caps.offers_auth("login"));
    }

    #[test]
    fn size_zero_or_garbage_means_no_limit() {
        assert_eq!(ehlo(&["x", "SIZE 0"]).max_size, None);
        assert_eq!(ehlo(&["x", "SIZE -5"]).max_size, None);
        assert_eq!(ehlo(&["x", "SIZE 99999999999999999999999"]).max_size, None);
        assert!(ehlo(&["x", "SIZE abc"]).size);
    }

    #[test]
    fn hostile_auth_lists_are_bounded() {
        let long = "A".repeat(65);
        let many: Vec<String> = (0..100).map(|i| format!("M{i}")).collect();
        let line = format!("AUTH {long} bad;mech {}", many.join(" "));
        let caps = ehlo(&["x", &line]);
        assert_eq!(caps.auth.len(), MAX_MECHANISMS);
        assert_eq!(caps.auth[0], "M0");
        assert!(ehlo(&["", "", "   "]).hostname.is_empty());
    }

    #[test]
    fn our_own_server_capabilities_read_back() {
        let mut settings = Settings::lmtp("lmtp.example.org");
        settings.extensions.starttls = true;
        settings.extensions.dsn = true;
        settings.auth_mechanisms = vec!["PLAIN".into()];
        settings.auth_requires_tls = false;
        let reply = Reply::ehlo(&settings.hostname, settings.capabilities(false));
        let caps = Capabilities::from_ehlo(&reply);
        let ext = &settings.extensions;
        assert_eq!(caps.hostname, "lmtp.example.org");
        assert_eq!(
            (caps.pipelining, caps.size, caps.max_size),
            (ext.pipelining, ext.size, settings.max_message_size)
        );
        assert_eq!(
            (
                caps.eight_bit_mime,
                caps.smtputf8,
                caps.chunking,
                caps.starttls
            ),
            (ext.eight_bit_mime, ext.smtputf8, ext.chunking, true)
        );
        assert!(caps.dsn && caps.enhanced_status_codes);
        assert_eq!(caps.auth, ["PLAIN"]);
    }
}
