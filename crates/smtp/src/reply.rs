//! The typed SMTP/LMTP reply and its wire encoding. The texts themselves live in
//! [`crate::replies`], never as byte strings in the session.

use std::fmt;

/// An enhanced status code (RFC 3463): class, subject, detail, e.g. `(5, 1, 1)`.
pub type EnhancedCode = (u8, u16, u16);

/// One reply: a three-digit code, an optional enhanced status code, and one or more lines of
/// text (several lines are sent as `250-first` ... `250 last`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic reply code, 200..=599.
    pub code: u16,
    /// Enhanced status code, written on every line when ENHANCEDSTATUSCODES is on.
    pub enhanced: Option<EnhancedCode>,
    /// Text lines; an empty list sends the code and a space.
    pub text: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: impl Into<String>) -> Self {
        Self {
            code,
            enhanced,
            text: vec![text.into()],
        }
    }

    /// A reply of several lines.
    pub fn multiline(code: u16, enhanced: Option<EnhancedCode>, text: Vec<String>) -> Self {
        Self {
            code,
            enhanced,
            text,
        }
    }

    /// 2xx: the command succeeded.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: go on (354 after DATA, 334 during AUTH).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Appends the wire form, enhanced codes included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_with(true, out);
    }

    /// Appends the wire form; `enhanced` says whether enhanced codes may be written (the
    /// client was offered ENHANCEDSTATUSCODES). The separator is always written, so an empty
    /// SASL challenge goes out as `334 ` as clients expect.
    ///
    /// A code outside 200..=599 is sent as 451 (an internal fault must never read as success),
    /// an enhanced code whose class does not match the code is dropped, and control characters
    /// in the text become `?` so that no text can inject a reply line.
    pub fn encode_with(&self, enhanced: bool, out: &mut Vec<u8>) {
        let code = if (200..600).contains(&self.code) {
            self.code
        } else {
            451
        };
        let enhanced = self
            .enhanced
            .filter(|&(class, _, _)| enhanced && u16::from(class) == code / 100);
        let count = self.text.len().max(1);
        for index in 0..count {
            let separator = if index + 1 == count { ' ' } else { '-' };
            let line = self.text.get(index).map_or("", String::as_str);
            let mut head = format!("{code}{separator}");
            if let Some((class, subject, detail)) = enhanced {
                head.push_str(&format!("{class}.{subject}.{detail} "));
            }
            out.extend_from_slice(head.as_bytes());
            out.extend(
                line.bytes()
                    .map(|b| if b < 0x20 || b == 0x7f { b'?' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    /// `550 5.1.1 text`, lines joined with ` / `, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text.join(" / "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply, enhanced: bool) -> String {
        let mut out = Vec::new();
        reply.encode_with(enhanced, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_line_with_enhanced_code() {
        let reply = Reply::new(550, Some((5, 1, 1)), "User unknown");
        assert_eq!(wire(&reply, true), "550 5.1.1 User unknown\r\n");
        assert_eq!(wire(&reply, false), "550 User unknown\r\n");
        assert_eq!(reply.to_string(), "550 5.1.1 User unknown");
    }

    #[test]
    fn multiline_uses_dash_until_the_last_line() {
        let reply = Reply::multiline(
            250,
            None,
            vec![
                "mx.example.org".into(),
                "PIPELINING".into(),
                "SIZE 10".into(),
            ],
        );
        assert_eq!(
            wire(&reply, true),
            "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
        );
    }

    #[test]
    fn empty_text_keeps_the_separator() {
        assert_eq!(wire(&Reply::auth_challenge(""), true), "334 \r\n");
        assert_eq!(wire(&Reply::multiline(250, None, vec![]), true), "250 \r\n");
        assert_eq!(
            wire(&Reply::multiline(250, Some((2, 0, 0)), vec![]), true),
            "250 2.0.0 \r\n"
        );
    }

    #[test]
    fn text_cannot_inject_lines() {
        let reply = Reply::new(550, Some((5, 1, 1)), "a\r\n250 ok");
        assert_eq!(wire(&reply, true), "550 5.1.1 a??250 ok\r\n");
    }

    #[test]
    fn invalid_code_becomes_451_and_mismatched_enhanced_is_dropped() {
        assert_eq!(wire(&Reply::new(1000, None, "x"), true), "451 x\r\n");
        assert_eq!(
            wire(&Reply::new(250, Some((5, 0, 0)), "x"), true),
            "250 x\r\n"
        );
    }
}
