//! `SMFIR_REPLYCODE`: the SMTP reply a milter dictates, checked before it may reach an SMTP
//! client, and the fixed replies Postfix gives for the other refusals.

use std::fmt;

/// An SMTP reply as a milter dictated it, or one of the fixed texts Postfix uses. Possibly
/// multi-line: lines joined with CRLF, no trailing CRLF, each starting with the same code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilterReply {
    code: u16,
    text: String,
}

/// Postfix's texts, so clients and log readers see what they saw behind Postfix.
pub const REJECT_TEXT: &str = "550 5.7.1 Command rejected";
pub const TEMPFAIL_TEXT: &str = "451 4.7.1 Service unavailable - try again later";
pub const SHUTDOWN_TEXT: &str = "421 4.7.0 Server closing connection";

impl MilterReply {
    /// `550 5.7.1 Command rejected`: `SMFIR_REJECT`, and the `reject` default action.
    pub fn reject() -> Self {
        Self::fixed(550, REJECT_TEXT)
    }

    /// `451 4.7.1 Service unavailable - try again later`: `SMFIR_TEMPFAIL`, and the
    /// `tempfail` default action.
    pub fn tempfail() -> Self {
        Self::fixed(451, TEMPFAIL_TEXT)
    }

    /// `421 4.7.0 Server closing connection`: `SMFIR_SHUTDOWN` and `SMFIR_CONN_FAIL`.
    pub fn shutdown() -> Self {
        Self::fixed(421, SHUTDOWN_TEXT)
    }

    fn fixed(code: u16, text: &str) -> Self {
        Self {
            code,
            text: text.to_string(),
        }
    }

    /// Checks an `SMFIR_REPLYCODE` text the way Postfix does (a 4xx or 5xx code, then a space
    /// or hyphen, then an enhanced status code of the same class), and more, because the text
    /// goes to a client verbatim: every line carries the same code, only the last one a space
    /// after it, and no control characters hide inside a line. `%%` becomes `%` and a lone `%`
    /// is dropped, since libmilter-based filters double `%` for Sendmail's format strings.
    pub fn parse(raw: &[u8]) -> Result<Self, &'static str> {
        let text = std::str::from_utf8(raw).map_err(|_| "reply is not UTF-8")?;
        let text = text.strip_suffix("\r\n").unwrap_or(text);
        let bytes = text.as_bytes();
        let (Some(&first), Some(&class_digit)) = (bytes.first(), bytes.get(4)) else {
            return Err("reply is too short");
        };
        if !matches!(first, b'4' | b'5') || class_digit != first {
            return Err("reply is not 4xx/5xx with a matching enhanced status code");
        }
        let code_text = text.get(..3).ok_or("reply is too short")?;
        if !code_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("reply code is not three digits");
        }
        let code: u16 = code_text
            .parse()
            .map_err(|_| "reply code is not a number")?;
        let lines: Vec<&str> = text.split("\r\n").collect();
        let mut cleaned = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            let last = index + 1 == lines.len();
            let rest = line
                .strip_prefix(code_text)
                .ok_or("reply lines carry different codes")?;
            let separator = rest.as_bytes().first().copied();
            match (separator, last) {
                (Some(b'-'), false) | (Some(b' '), true) => {}
                _ => return Err("reply lines are not joined as a multi-line reply"),
            }
            if line.chars().any(char::is_control) {
                return Err("reply contains control characters");
            }
            cleaned.push(undouble_percent(line));
        }
        Ok(Self {
            code,
            text: cleaned.join("\r\n"),
        })
    }

    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Whether the code is 5xx.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The whole reply, lines joined with CRLF, without the final CRLF.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The reply's lines, each with its code.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split("\r\n")
    }
}

impl fmt::Display for MilterReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn undouble_percent(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replycode_is_kept_verbatim() {
        let reply = MilterReply::parse(b"554 5.7.1 Spam score too high").unwrap();
        assert_eq!(reply.code(), 554);
        assert!(reply.is_permanent());
        assert_eq!(reply.as_str(), "554 5.7.1 Spam score too high");
        let reply = MilterReply::parse(b"450 4.2.0 greylisted\r\n").unwrap();
        assert_eq!(reply.as_str(), "450 4.2.0 greylisted");
        assert!(!reply.is_permanent());
    }

    #[test]
    fn multi_line_replycode() {
        let reply =
            MilterReply::parse(b"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last").unwrap();
        assert_eq!(
            reply.lines().collect::<Vec<_>>(),
            ["550-5.7.1 first", "550-5.7.1 second", "550 5.7.1 last"]
        );
    }

    #[test]
    fn percent_signs_are_undoubled() {
        let reply = MilterReply::parse(b"550 5.7.1 100%% sure, 50% not").unwrap();
        assert_eq!(reply.as_str(), "550 5.7.1 100% sure, 50 not");
    }

    #[test]
    fn malformed_replycodes_are_refused() {
        for bad in [
            &b""[..],
            b"250 2.0.0 ok",
            b"550 go away",
            b"550 4.7.1 class mismatch",
            b"5x0 5.7.1 x",
            b"550",
            b"550-5.7.1 only a continuation",
            b"550 5.7.1 a\r\n550 5.7.1 b",
            b"550-5.7.1 a\r\n451 4.7.1 b",
            b"550 5.7.1 bare\nline",
            b"550 5.7.1 nul\x01",
            b"550 5.7.1 \xff",
        ] {
            assert!(
                MilterReply::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fixed_texts_are_postfix_texts() {
        assert_eq!(MilterReply::reject().as_str(), "550 5.7.1 Command rejected");
        assert_eq!(
            MilterReply::tempfail().as_str(),
            "451 4.7.1 Service unavailable - try again later"
        );
        assert_eq!(MilterReply::shutdown().code(), 421);
    }
}
