//! Envelope paths (RFC 5321 4.1.2): mailboxes, domains, address literals, the null reverse
//! path, and the legacy routing forms (source routes, `%` hacks, `!` paths), which parse but
//! are flagged so that an MTA can refuse to relay them.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest local part in octets (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain in octets (RFC 5321 4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path in octets, brackets included (RFC 5321 4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why a path, mailbox or host did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not enclosed in `<` `>`.
    #[error("path must be enclosed in <>")]
    MissingBrackets,
    /// `<>` where a mailbox is required.
    #[error("empty path")]
    EmptyPath,
    /// More than 256 octets.
    #[error("path too long")]
    PathTooLong,
    /// A source route (`@a,@b:`) that is not a list of `@domain`.
    #[error("malformed source route")]
    BadSourceRoute,
    /// No `@` after the local part.
    #[error("missing @domain")]
    MissingAt,
    /// A local part that is neither a dot-string nor a quoted string.
    #[error("malformed local part")]
    BadLocalPart,
    /// A local part over 64 octets.
    #[error("local part too long")]
    LocalPartTooLong,
    /// A malformed domain.
    #[error("malformed domain")]
    BadDomain,
    /// A domain over 255 octets.
    #[error("domain too long")]
    DomainTooLong,
    /// A malformed `[...]` address literal.
    #[error("malformed address literal")]
    BadAddressLiteral,
    /// Non-ASCII characters, but SMTPUTF8 was not given (RFC 6531).
    #[error("non-ASCII address without SMTPUTF8")]
    NeedsSmtputf8,
}

/// The part after `@`: a domain name or an address literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name as written (case preserved).
    Domain(String),
    /// `[192.0.2.1]`
    Ipv4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a general address literal (RFC 5321 4.1.3).
    General {
        /// Standardized tag.
        tag: String,
        /// Literal content.
        content: String,
    },
}

impl Host {
    /// Parses a domain or an address literal; `utf8` allows U-labels (SMTPUTF8).
    pub fn parse(text: &str, utf8: bool) -> Result<Self, AddressError> {
        match text.strip_prefix('[') {
            Some(rest) => parse_literal(rest),
            None => parse_domain(text, utf8).map(|()| Self::Domain(text.to_owned())),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(domain) => f.write_str(domain),
            Self::Ipv4(ip) => write!(f, "[{ip}]"),
            Self::Ipv6(ip) => write!(f, "[IPv6:{ip}]"),
            Self::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

/// `local-part@host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part as sent: a dot-string, or a quoted string with its quotes.
    pub local_part: String,
    /// Domain or address literal.
    pub host: Host,
}

impl Mailbox {
    /// Parses `local@host` (no angle brackets); `utf8` allows non-ASCII (SMTPUTF8).
    pub fn parse(text: &str, utf8: bool) -> Result<Self, AddressError> {
        let (local_part, host) = split_local_part(text, utf8)?;
        if local_part.len() > MAX_LOCAL_PART {
            return Err(AddressError::LocalPartTooLong);
        }
        let host = Host::parse(host, utf8)?;
        Ok(Self {
            local_part: local_part.to_owned(),
            host,
        })
    }

    /// The local part with quoting removed: `"a b"` becomes `a b`, `"a\"b"` becomes `a"b`.
    pub fn local_part_unquoted(&self) -> String {
        let Some(inner) = self
            .local_part
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
        else {
            return self.local_part.clone();
        };
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' {
                chars.next().unwrap_or(c)
            } else {
                c
            });
        }
        out
    }

    /// The relay hazards in the local part.
    fn flags(&self) -> PathFlags {
        let local = self.local_part_unquoted();
        PathFlags {
            source_route: false,
            percent_hack: local.contains('%'),
            bang_path: local.contains('!'),
            quoted_at: self.local_part.starts_with('"') && local.contains('@'),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.host)
    }
}

/// Legacy routing forms found in a path. None of them is a syntax error (RFC 5321 says to
/// accept and ignore source routes), but a relay must not honour them: an MTA refuses or
/// treats such addresses as non-local (open-relay tests probe exactly these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)]
pub struct PathFlags {
    /// `<@a,@b:user@d>`: the route was dropped, only `user@d` is kept.
    pub source_route: bool,
    /// `user%other@d`: the `%` hack.
    pub percent_hack: bool,
    /// `other!user@d`: a UUCP bang path.
    pub bang_path: bool,
    /// `"user@other"@d`: an `@` inside a quoted local part.
    pub quoted_at: bool,
}

impl PathFlags {
    /// Whether any legacy routing form was present.
    pub fn any(&self) -> bool {
        self.source_route || self.percent_hack || self.bang_path || self.quoted_at
    }
}

/// MAIL FROM: a mailbox, or `<>` for bounces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`
    Null,
    /// `<mailbox>`
    Mailbox(Mailbox),
}

impl ReversePath {
    /// Parses `<>` or `<[route:]mailbox>`.
    pub fn parse(text: &str, utf8: bool) -> Result<(Self, PathFlags), AddressError> {
        Ok(match parse_path(text, utf8)? {
            None => (Self::Null, PathFlags::default()),
            Some((mailbox, flags)) => (Self::Mailbox(mailbox), flags),
        })
    }

    /// The mailbox, `None` for `<>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Self::Null => None,
            Self::Mailbox(mailbox) => Some(mailbox),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

/// RCPT TO: a mailbox, or the bare `<Postmaster>` every server must accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 4.1.1.3), any case.
    Postmaster,
    /// `<mailbox>`
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// Parses `<Postmaster>` or `<[route:]mailbox>`.
    pub fn parse(text: &str, utf8: bool) -> Result<(Self, PathFlags), AddressError> {
        let inner = text.strip_prefix('<').and_then(|s| s.strip_suffix('>'));
        if inner.is_some_and(|inner| inner.eq_ignore_ascii_case("postmaster")) {
            return Ok((Self::Postmaster, PathFlags::default()));
        }
        match parse_path(text, utf8)? {
            None => Err(AddressError::EmptyPath),
            Some((mailbox, flags)) => Ok((Self::Mailbox(mailbox), flags)),
        }
    }

    /// The mailbox, `None` for the bare postmaster.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            Self::Postmaster => None,
            Self::Mailbox(mailbox) => Some(mailbox),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("<Postmaster>"),
            Self::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

/// `<>` gives `None`; otherwise the mailbox and its flags.
fn parse_path(text: &str, utf8: bool) -> Result<Option<(Mailbox, PathFlags)>, AddressError> {
    if text.len() > MAX_PATH {
        return Err(AddressError::PathTooLong);
    }
    let inner = text
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .ok_or(AddressError::MissingBrackets)?;
    if inner.is_empty() {
        return Ok(None);
    }
    let (source_route, mailbox) = if inner.starts_with('@') {
        // Domains cannot contain ':', so the first one ends the route.
        let (route, mailbox) = inner.split_once(':').ok_or(AddressError::BadSourceRoute)?;
        for hop in route.split(',') {
            let domain = hop.strip_prefix('@').ok_or(AddressError::BadSourceRoute)?;
            parse_domain(domain, utf8).map_err(|error| match error {
                AddressError::NeedsSmtputf8 => error,
                _ => AddressError::BadSourceRoute,
            })?;
        }
        (true, mailbox)
    } else {
        (false, inner)
    };
    let mailbox = Mailbox::parse(mailbox, utf8)?;
    let mut flags = mailbox.flags();
    flags.source_route = source_route;
    Ok(Some((mailbox, flags)))
}

/// Splits `local@rest` after checking the local part's syntax.
fn split_local_part(text: &str, utf8: bool) -> Result<(&str, &str), AddressError> {
    if !utf8 && !text.is_ascii() {
        return Err(AddressError::NeedsSmtputf8);
    }
    let end = if text.starts_with('"') {
        quoted_string_end(text, utf8)?
    } else {
        let end = text.find('@').ok_or(AddressError::MissingAt)?;
        let local = text.get(..end).unwrap_or_default();
        let atoms_ok = local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c, utf8)));
        if !atoms_ok {
            return Err(AddressError::BadLocalPart);
        }
        end
    };
    let (local, rest) = text
        .split_at_checked(end)
        .ok_or(AddressError::BadLocalPart)?;
    let host = rest.strip_prefix('@').ok_or(AddressError::MissingAt)?;
    Ok((local, host))
}

/// Byte index just past the closing quote of the quoted string `text` starts with.
fn quoted_string_end(text: &str, utf8: bool) -> Result<usize, AddressError> {
    let mut chars = text.char_indices().skip(1);
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok(index + 1),
            '\\' => match chars.next() {
                Some((_, ' '..='~')) => {}
                Some((_, c)) if utf8 && !c.is_ascii() => {}
                _ => return Err(AddressError::BadLocalPart),
            },
            ' ' | '!' | '#'..='[' | ']'..='~' => {}
            c if utf8 && !c.is_ascii() => {}
            _ => return Err(AddressError::BadLocalPart),
        }
    }
    Err(AddressError::BadLocalPart)
}

/// RFC 5322 atext, plus any non-ASCII character under SMTPUTF8 (RFC 6531 3.3).
fn is_atext(c: char, utf8: bool) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (utf8 && !c.is_ascii())
}

/// Checks `sub-domain *("." sub-domain)`.
fn parse_domain(text: &str, utf8: bool) -> Result<(), AddressError> {
    if !utf8 && !text.is_ascii() {
        return Err(AddressError::NeedsSmtputf8);
    }
    if text.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || (utf8 && !c.is_ascii()))
    };
    if text.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(AddressError::BadDomain)
    }
}

/// Parses what follows `[` in an address literal.
fn parse_literal(rest: &str) -> Result<Host, AddressError> {
    let inner = rest
        .strip_suffix(']')
        .ok_or(AddressError::BadAddressLiteral)?;
    let bad = |_| AddressError::BadAddressLiteral;
    if let Some((tag, content)) = inner.split_once(':') {
        if tag.eq_ignore_ascii_case("IPv6") {
            return content.parse().map(Host::Ipv6).map_err(bad);
        }
        let tag_ok = !tag.is_empty()
            && !tag.ends_with('-')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let content_ok =
            !content.is_empty() && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126));
        return if tag_ok && content_ok {
            Ok(Host::General {
                tag: tag.to_owned(),
                content: content.to_owned(),
            })
        } else {
            Err(AddressError::BadAddressLiteral)
        };
    }
    inner.parse().map(Host::Ipv4).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(text: &str) -> Mailbox {
        match ReversePath::parse(text, false).unwrap().0 {
            ReversePath::Mailbox(mailbox) => mailbox,
            ReversePath::Null => panic!("null path"),
        }
    }

    #[test]
    fn rfc5321_examples() {
        let m = mailbox("<Smith@bar.com>");
        assert_eq!(m.local_part, "Smith");
        assert_eq!(m.host, Host::Domain("bar.com".into()));
        assert_eq!(
            ReversePath::parse("<>", false).unwrap().0,
            ReversePath::Null
        );
        assert_eq!(
            ForwardPath::parse("<Postmaster>", false).unwrap().0,
            ForwardPath::Postmaster
        );
        assert_eq!(
            ForwardPath::parse("<postMASTER>", false).unwrap().0,
            ForwardPath::Postmaster
        );
        assert_eq!(
            ForwardPath::parse("<>", false),
            Err(AddressError::EmptyPath)
        );
    }

    #[test]
    fn quoted_local_parts() {
        let m = mailbox(r#"<"john \"q\" doe"@example.org>"#);
        assert_eq!(m.local_part, r#""john \"q\" doe""#);
        assert_eq!(m.local_part_unquoted(), r#"john "q" doe"#);
        assert_eq!(m.to_string(), r#""john \"q\" doe"@example.org"#);
        assert_eq!(
            ReversePath::parse("<\"unterminated@example.org>", false),
            Err(AddressError::BadLocalPart)
        );
        assert_eq!(
            ReversePath::parse("<\"a\tb\"@example.org>", false),
            Err(AddressError::BadLocalPart)
        );
    }

    #[test]
    fn address_literals() {
        assert_eq!(
            mailbox("<a@[192.0.2.1]>").host,
            Host::Ipv4([192, 0, 2, 1].into())
        );
        assert_eq!(
            mailbox("<a@[IPv6:2001:db8::1]>").host,
            Host::Ipv6("2001:db8::1".parse().unwrap())
        );
        assert_eq!(mailbox("<a@[ipv6:::1]>").to_string(), "a@[IPv6:::1]");
        assert_eq!(
            mailbox("<a@[x-tag:stuff]>").host,
            Host::General {
                tag: "x-tag".into(),
                content: "stuff".into()
            }
        );
        for bad in [
            "<a@[1.2.3]>",
            "<a@[IPv6:zz]>",
            "<a@[1.2.3.4>",
            "<a@[256.1.1.1]>",
        ] {
            assert_eq!(
                ReversePath::parse(bad, false),
                Err(AddressError::BadAddressLiteral),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_paths() {
        let cases = [
            ("a@b.c", AddressError::MissingBrackets),
            ("<a@b.c", AddressError::MissingBrackets),
            ("<ab.c>", AddressError::MissingAt),
            ("<.a@b.c>", AddressError::BadLocalPart),
            ("<a..b@b.c>", AddressError::BadLocalPart),
            ("<a b@b.c>", AddressError::BadLocalPart),
            ("<a@b..c>", AddressError::BadDomain),
            ("<a@-b.c>", AddressError::BadDomain),
            ("<a@b.c@d.e>", AddressError::BadDomain),
            ("<a@>", AddressError::BadDomain),
            ("<@a:>", AddressError::MissingAt),
            ("<@a,b:u@d>", AddressError::BadSourceRoute),
            ("<@a u@d>", AddressError::BadSourceRoute),
        ];
        for (text, error) in cases {
            assert_eq!(ReversePath::parse(text, false), Err(error), "{text}");
        }
        let long_local = format!("<{}@b.c>", "a".repeat(65));
        assert_eq!(
            ReversePath::parse(&long_local, false),
            Err(AddressError::LocalPartTooLong)
        );
        let long_path = format!("<a@{}.c>", "b".repeat(300));
        assert_eq!(
            ReversePath::parse(&long_path, false),
            Err(AddressError::PathTooLong)
        );
    }

    #[test]
    fn relay_hazards_are_flagged_not_rejected() {
        let (path, flags) =
            ForwardPath::parse("<@a.example,@b.example:u@d.example>", false).unwrap();
        assert_eq!(path.to_string(), "<u@d.example>");
        assert_eq!(
            flags,
            PathFlags {
                source_route: true,
                ..PathFlags::default()
            }
        );
        let flags = |text| ForwardPath::parse(text, false).unwrap().1;
        assert!(flags("<u%other.example@d.example>").percent_hack);
        assert!(flags("<other.example!u@d.example>").bang_path);
        assert!(flags("<\"u@other.example\"@d.example>").quoted_at);
        assert!(flags("<\"u%other\"@d.example>").percent_hack);
        assert!(!flags("<u@d.example>").any());
    }

    #[test]
    fn utf8_only_with_smtputf8() {
        assert_eq!(
            ReversePath::parse("<jürgen@example.org>", false),
            Err(AddressError::NeedsSmtputf8)
        );
        assert_eq!(
            ReversePath::parse("<a@bücher.example>", false),
            Err(AddressError::NeedsSmtputf8)
        );
        let m = match ReversePath::parse("<jürgen@bücher.example>", true)
            .unwrap()
            .0
        {
            ReversePath::Mailbox(m) => m,
            ReversePath::Null => unreachable!(),
        };
        assert_eq!(m.local_part, "jürgen");
    }

    #[test]
    fn hosts_for_helo() {
        assert_eq!(
            Host::parse("mail.example.org", false),
            Ok(Host::Domain("mail.example.org".into()))
        );
        assert!(Host::parse("[192.0.2.1]", false).is_ok());
        assert!(Host::parse("bad_host", false).is_err());
    }
}
