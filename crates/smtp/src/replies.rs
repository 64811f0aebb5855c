//! Every reply text the server sends, in one table. The session and its callers build replies
//! only through these constructors, so wording and codes are reviewed in one place.

use crate::reply::Reply;
use crate::settings::Mode;

impl Reply {
    // --- connection --------------------------------------------------------------------------

    /// 220: the greeting (no enhanced code, RFC 2034).
    pub fn greeting(hostname: &str, mode: Mode) -> Self {
        let protocol = match mode {
            Mode::Smtp => "ESMTP",
            Mode::Lmtp => "LMTP",
        };
        Self::new(220, None, format!("{hostname} {protocol} Postern"))
    }

    /// 221 2.0.0: answer to QUIT.
    pub fn goodbye() -> Self {
        Self::new(221, Some((2, 0, 0)), "Bye")
    }

    /// 421 4.3.2: the server is shutting down.
    pub fn service_closing() -> Self {
        Self::new(
            421,
            Some((4, 3, 2)),
            "Service shutting down, closing transmission channel",
        )
    }

    /// 421 4.7.0: the client made too many protocol errors.
    pub fn too_many_errors() -> Self {
        Self::new(
            421,
            Some((4, 7, 0)),
            "Too many errors, closing transmission channel",
        )
    }

    /// 451 4.3.0: an internal fault; never a silent accept.
    pub fn local_error() -> Self {
        Self::new(451, Some((4, 3, 0)), "Local error in processing")
    }

    // --- greetings ---------------------------------------------------------------------------

    /// 250: answer to HELO, just our name.
    pub fn helo(hostname: &str) -> Self {
        Self::new(250, None, hostname)
    }

    /// 250: answer to EHLO/LHLO, our name then one capability per line.
    pub fn ehlo(hostname: &str, capabilities: Vec<String>) -> Self {
        let mut text = Vec::with_capacity(capabilities.len() + 1);
        text.push(hostname.to_owned());
        text.extend(capabilities);
        Self::multiline(250, None, text)
    }

    /// 503 5.5.1: MAIL (or another command that needs it) before HELO/EHLO/LHLO.
    pub fn need_hello(mode: Mode) -> Self {
        let text = match mode {
            Mode::Smtp => "Send EHLO or HELO first",
            Mode::Lmtp => "Send LHLO first",
        };
        Self::new(503, Some((5, 5, 1)), text)
    }

    // --- success -----------------------------------------------------------------------------

    /// 250 2.0.0: generic success (NOOP, RSET).
    pub fn ok() -> Self {
        Self::new(250, Some((2, 0, 0)), "Ok")
    }

    /// 250 2.1.0: sender accepted.
    pub fn sender_ok() -> Self {
        Self::new(250, Some((2, 1, 0)), "Ok")
    }

    /// 250 2.1.5: recipient accepted.
    pub fn recipient_ok() -> Self {
        Self::new(250, Some((2, 1, 5)), "Ok")
    }

    /// 354: go ahead with the message (no enhanced code: it is not a completion reply).
    pub fn start_data() -> Self {
        Self::new(354, None, "End data with <CR><LF>.<CR><LF>")
    }

    /// 250 2.0.0: message accepted, without a queue id.
    pub fn ok_message() -> Self {
        Self::new(250, Some((2, 0, 0)), "Ok: message accepted")
    }

    /// 250 2.0.0: message queued under `id`.
    pub fn ok_queued(id: &str) -> Self {
        Self::new(250, Some((2, 0, 0)), format!("Ok: queued as {id}"))
    }

    /// 250 2.0.0: LMTP, message delivered to one recipient.
    pub fn ok_delivered() -> Self {
        Self::new(250, Some((2, 0, 0)), "Ok: delivered")
    }

    /// 250 2.0.0: one BDAT chunk (not the last) received.
    pub fn chunk_received(octets: u64) -> Self {
        Self::new(
            250,
            Some((2, 0, 0)),
            format!("Ok: {octets} octets received"),
        )
    }

    /// 214 2.0.0: answer to HELP.
    pub fn help() -> Self {
        Self::new(
            214,
            Some((2, 0, 0)),
            "Commands: EHLO HELO LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        )
    }

    /// 252 2.5.2: VRFY is not answered, but mail will be tried (RFC 5321 3.5.3).
    pub fn cannot_vrfy() -> Self {
        Self::new(
            252,
            Some((2, 5, 2)),
            "Cannot VRFY user, but will accept message and attempt delivery",
        )
    }

    // --- sequence ----------------------------------------------------------------------------

    /// 503 5.5.1: command out of sequence.
    pub fn bad_sequence() -> Self {
        Self::new(503, Some((5, 5, 1)), "Bad sequence of commands")
    }

    /// 503 5.5.1: MAIL inside a transaction.
    pub fn nested_mail() -> Self {
        Self::new(503, Some((5, 5, 1)), "Sender already specified")
    }

    /// 503 5.5.1: RCPT, DATA or BDAT without MAIL.
    pub fn need_mail() -> Self {
        Self::new(503, Some((5, 5, 1)), "Need MAIL command")
    }

    /// 554 5.5.1: DATA or BDAT when no recipient was accepted.
    pub fn no_valid_recipients() -> Self {
        Self::new(554, Some((5, 5, 1)), "No valid recipients")
    }

    /// 503 5.5.1: LMTP DATA or BDAT when no recipient was accepted (RFC 2033 4.2).
    pub fn need_rcpt() -> Self {
        Self::new(503, Some((5, 5, 1)), "Need RCPT command")
    }

    /// 503 5.5.1: DATA for a `BODY=BINARYMIME` message, which must use BDAT (RFC 3030).
    pub fn binarymime_needs_bdat() -> Self {
        Self::new(503, Some((5, 5, 1)), "BODY=BINARYMIME requires BDAT")
    }

    // --- syntax ------------------------------------------------------------------------------

    /// 500 5.5.2: unknown command.
    pub fn unrecognized_command() -> Self {
        Self::new(500, Some((5, 5, 2)), "Command not recognized")
    }

    /// 502 5.5.1: known but not offered here (EXPN, TURN, a disabled extension).
    pub fn not_implemented() -> Self {
        Self::new(502, Some((5, 5, 1)), "Command not implemented")
    }

    /// 501 5.5.4: bad arguments; `detail` says which.
    pub fn syntax_error(detail: &str) -> Self {
        Self::new(501, Some((5, 5, 4)), format!("Syntax error: {detail}"))
    }

    /// 500 5.5.2: a command line that is not valid text.
    pub fn invalid_line() -> Self {
        Self::new(500, Some((5, 5, 2)), "Syntax error: invalid characters")
    }

    /// 500 5.5.6: command line over the limit (RFC 5321 4.5.3.1.4).
    pub fn line_too_long() -> Self {
        Self::new(500, Some((5, 5, 6)), "Line too long")
    }

    /// 500 5.5.2: a command line with a bare LF or bare CR (lines end in CRLF only).
    pub fn bare_line_end() -> Self {
        Self::new(500, Some((5, 5, 2)), "Bare CR or LF received")
    }

    /// 501 5.1.7: unparsable MAIL FROM path.
    pub fn bad_sender_syntax(detail: &str) -> Self {
        Self::new(
            501,
            Some((5, 1, 7)),
            format!("Bad sender address syntax: {detail}"),
        )
    }

    /// 501 5.1.3: unparsable RCPT TO path.
    pub fn bad_recipient_syntax(detail: &str) -> Self {
        Self::new(
            501,
            Some((5, 1, 3)),
            format!("Bad recipient address syntax: {detail}"),
        )
    }

    /// 553 5.6.7: a UTF-8 address without SMTPUTF8 (RFC 6531 3.5).
    pub fn smtputf8_required() -> Self {
        Self::new(553, Some((5, 6, 7)), "Non-ASCII address requires SMTPUTF8")
    }

    /// 555 5.5.4: a MAIL/RCPT parameter we do not know or do not offer.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            555,
            Some((5, 5, 4)),
            format!("Unsupported parameter {name}"),
        )
    }

    // --- limits ------------------------------------------------------------------------------

    /// 452 4.5.3: recipient limit reached (RFC 5321 4.5.3.1.10: 452, the client retries later).
    pub fn too_many_recipients() -> Self {
        Self::new(452, Some((4, 5, 3)), "Too many recipients")
    }

    /// 552 5.3.4: message over the size limit.
    pub fn size_exceeded() -> Self {
        Self::new(
            552,
            Some((5, 3, 4)),
            "Message size exceeds fixed maximum message size",
        )
    }

    /// 550 5.6.0: message with bare CR or LF, under the reject policy.
    pub fn bare_line_end_in_data() -> Self {
        Self::new(550, Some((5, 6, 0)), "Message contains bare CR or LF")
    }

    // --- mailboxes ---------------------------------------------------------------------------

    /// 550 5.1.1: no such user.
    pub fn unknown_user() -> Self {
        Self::new(550, Some((5, 1, 1)), "User unknown")
    }

    /// 552 5.2.2: mailbox over quota.
    pub fn quota_exceeded() -> Self {
        Self::new(552, Some((5, 2, 2)), "Mailbox full")
    }

    /// 554 5.7.1: relaying denied.
    pub fn relay_denied() -> Self {
        Self::new(554, Some((5, 7, 1)), "Relay access denied")
    }

    // --- TLS and AUTH ------------------------------------------------------------------------

    /// 220 2.0.0: start the TLS handshake.
    pub fn starttls_ready() -> Self {
        Self::new(220, Some((2, 0, 0)), "Ready to start TLS")
    }

    /// 454 4.7.0: TLS cannot be started now.
    pub fn tls_not_available() -> Self {
        Self::new(
            454,
            Some((4, 7, 0)),
            "TLS not available due to temporary reason",
        )
    }

    /// 530 5.7.0: STARTTLS first.
    pub fn encryption_required() -> Self {
        Self::new(530, Some((5, 7, 0)), "Must issue a STARTTLS command first")
    }

    /// 530 5.7.0: AUTH first.
    pub fn auth_required() -> Self {
        Self::new(530, Some((5, 7, 0)), "Authentication required")
    }

    /// 235 2.7.0: SASL exchange succeeded.
    pub fn auth_ok() -> Self {
        Self::new(235, Some((2, 7, 0)), "Authentication successful")
    }

    /// 334: a SASL challenge, base64 (empty for "send your initial response").
    pub fn auth_challenge(base64: &str) -> Self {
        Self::new(334, None, base64)
    }

    /// 535 5.7.8: wrong credentials.
    pub fn auth_failed() -> Self {
        Self::new(535, Some((5, 7, 8)), "Authentication credentials invalid")
    }

    /// 501 5.7.0: the client cancelled the exchange with `*` (RFC 4954 4).
    pub fn auth_cancelled() -> Self {
        Self::new(501, Some((5, 7, 0)), "Authentication cancelled")
    }

    /// 504 5.5.4: a mechanism we do not offer.
    pub fn auth_mechanism_unknown() -> Self {
        Self::new(504, Some((5, 5, 4)), "Unrecognized authentication type")
    }

    /// 503 5.5.1: AUTH after a successful AUTH.
    pub fn already_authenticated() -> Self {
        Self::new(503, Some((5, 5, 1)), "Already authenticated")
    }
}
