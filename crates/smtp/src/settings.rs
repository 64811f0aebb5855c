//! What a server offers and enforces: protocol mode, limits, extensions, line-end policies,
//! and the EHLO/LHLO capability list built from them.

/// Which protocol the session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SMTP (RFC 5321): HELO or EHLO, one reply at end of data.
    Smtp,
    /// LMTP (RFC 2033): LHLO only, one reply per accepted recipient at end of data.
    Lmtp,
}

/// What a bare LF (or bare CR) in a command line means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareLfInCommands {
    /// Lines end only in CRLF; a line with a bare LF or CR gets 500 5.5.2 and is discarded up
    /// to the next CRLF. The default.
    Reject,
    /// A bare LF ends a command line too (a quirk for trusted peers that talk LMTP with `\n`).
    /// Never applies to message data: only `CRLF.CRLF` ends a message.
    AcceptAsLineEnd,
}

/// What a bare LF or bare CR inside DATA means. Neither ever ends the message. BDAT chunks
/// are counted, not scanned, so the policy does not apply to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareLineEndsInData {
    /// Pass them through as message bytes. The default.
    PassThrough,
    /// Read to the end of data, then reject the message with 550 5.6.0.
    Reject,
}

/// ESMTP extensions to offer and accept. A disabled extension is not advertised, and its
/// parameters or commands are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one switch per extension is the point
pub struct Extensions {
    /// PIPELINING (RFC 2920). Commands are always processed in order; this only advertises it.
    pub pipelining: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034); when off, replies carry no enhanced codes.
    pub enhanced_status_codes: bool,
    /// SIZE (RFC 1870) and the `SIZE=` parameter.
    pub size: bool,
    /// 8BITMIME (RFC 6152) and `BODY=8BITMIME`.
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531): UTF-8 addresses when MAIL carries `SMTPUTF8`.
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030): the BDAT command.
    pub chunking: bool,
    /// BINARYMIME (RFC 3030) and `BODY=BINARYMIME`; needs `chunking`.
    pub binarymime: bool,
    /// STARTTLS (RFC 3207), offered only while the connection is not yet encrypted.
    pub starttls: bool,
    /// DSN (RFC 3461): `RET`, `ENVID`, `NOTIFY`, `ORCPT`.
    pub dsn: bool,
}

impl Default for Extensions {
    fn default() -> Self {
        Self {
            pipelining: true,
            enhanced_status_codes: true,
            size: true,
            eight_bit_mime: true,
            smtputf8: true,
            chunking: true,
            binarymime: false,
            starttls: false,
            dsn: false,
        }
    }
}

/// Everything a [`crate::ServerSession`] needs to know about its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// SMTP or LMTP.
    pub mode: Mode,
    /// Our host name, for the greeting and the EHLO reply.
    pub hostname: String,
    /// Longest command line in octets, CRLF included (RFC 5321 4.5.3.1.4: at least 512). AUTH
    /// lines obey it too, so a submission server with long SASL tokens wants ~12288.
    pub max_line_length: usize,
    /// Recipients accepted per transaction; more get 452 4.5.3 (RFC 5321 4.5.3.1.8 asks for at
    /// least 100).
    pub max_recipients: usize,
    /// Largest message in octets (after dot-unstuffing); `None` means no limit.
    pub max_message_size: Option<u64>,
    /// Protocol errors (syntax, sequence, bad lines) before 421 and closing; 0 means no limit.
    /// Policy refusals (452, 552, the caller's own replies) do not count.
    pub max_errors: u32,
    /// ESMTP extensions.
    pub extensions: Extensions,
    /// SASL mechanisms to offer (e.g. `PLAIN`), upper case; empty means no AUTH.
    pub auth_mechanisms: Vec<String>,
    /// Whether AUTH is offered and accepted only over TLS.
    pub auth_requires_tls: bool,
    /// Bare LF in command lines.
    pub bare_lf_in_commands: BareLfInCommands,
    /// Bare CR and LF inside DATA.
    pub bare_line_ends_in_data: BareLineEndsInData,
    /// Accept `MAIL FROM: <a@b>` with spaces after the colon, which RFC 5321 forbids but
    /// common clients send (Postfix and Exim accept it too).
    pub allow_space_after_colon: bool,
}

impl Settings {
    /// SMTP defaults: 512-octet lines, 100 recipients, 50 MiB messages.
    pub fn smtp(hostname: impl Into<String>) -> Self {
        Self {
            mode: Mode::Smtp,
            hostname: hostname.into(),
            max_line_length: 512,
            max_recipients: 100,
            max_message_size: Some(50 * 1024 * 1024),
            max_errors: 20,
            extensions: Extensions::default(),
            auth_mechanisms: Vec::new(),
            auth_requires_tls: true,
            bare_lf_in_commands: BareLfInCommands::Reject,
            bare_line_ends_in_data: BareLineEndsInData::PassThrough,
            allow_space_after_colon: true,
        }
    }

    /// LMTP defaults: as SMTP, with PIPELINING and ENHANCEDSTATUSCODES (RFC 2033 requires
    /// both) and 1000 recipients.
    pub fn lmtp(hostname: impl Into<String>) -> Self {
        Self {
            mode: Mode::Lmtp,
            max_recipients: 1000,
            ..Self::smtp(hostname)
        }
    }

    /// The capability lines of the EHLO/LHLO reply, without the host name line.
    pub fn capabilities(&self, tls_active: bool) -> Vec<String> {
        let ext = &self.extensions;
        let mut caps = Vec::new();
        if ext.pipelining {
            caps.push("PIPELINING".to_owned());
        }
        if ext.size {
            caps.push(match self.max_message_size {
                Some(limit) => format!("SIZE {limit}"),
                None => "SIZE".to_owned(),
            });
        }
        if ext.starttls && !tls_active {
            caps.push("STARTTLS".to_owned());
        }
        if self.auth_offered(tls_active) {
            caps.push(format!("AUTH {}", self.auth_mechanisms.join(" ")));
        }
        if ext.enhanced_status_codes {
            caps.push("ENHANCEDSTATUSCODES".to_owned());
        }
        if ext.eight_bit_mime {
            caps.push("8BITMIME".to_owned());
        }
        if ext.dsn {
            caps.push("DSN".to_owned());
        }
        if ext.smtputf8 {
            caps.push("SMTPUTF8".to_owned());
        }
        if ext.chunking {
            caps.push("CHUNKING".to_owned());
            if ext.binarymime {
                caps.push("BINARYMIME".to_owned());
            }
        }
        caps
    }

    /// Whether AUTH is on offer on a connection with this TLS state.
    pub fn auth_offered(&self, tls_active: bool) -> bool {
        !self.auth_mechanisms.is_empty() && (tls_active || !self.auth_requires_tls)
    }

    /// The line limit actually applied: at least room for `X` CRLF.
    pub(crate) fn line_limit(&self) -> usize {
        self.max_line_length.max(3)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::smtp("localhost")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_capabilities_in_postfix_order() {
        let mut settings = Settings::smtp("mx.example.org");
        settings.extensions.starttls = true;
        settings.extensions.dsn = true;
        settings.auth_mechanisms = vec!["PLAIN".into(), "LOGIN".into()];
        assert_eq!(
            settings.capabilities(false),
            [
                "PIPELINING",
                "SIZE 52428800",
                "STARTTLS",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "DSN",
                "SMTPUTF8",
                "CHUNKING"
            ]
        );
        let after_tls = settings.capabilities(true);
        assert!(!after_tls.contains(&"STARTTLS".to_owned()));
        assert!(after_tls.contains(&"AUTH PLAIN LOGIN".to_owned()));
    }

    #[test]
    fn no_size_limit_advertises_bare_size() {
        let mut settings = Settings::lmtp("lmtp.example.org");
        settings.max_message_size = None;
        assert!(settings.capabilities(false).contains(&"SIZE".to_owned()));
    }
}
