//! Address lists of RFC 5322 section 3.4 (with the obsolete forms of 4.4 that real mail
//! still carries) as the `address` test needs them: the local part and domain of every
//! mailbox, groups flattened, display names and comments ignored.
//!
//! A malformed entry is skipped up to the next comma and the rest still counts, so one bad
//! recipient does not hide the good ones. When nothing in a header parses, the caller
//! compares the whole value for `:all` and nothing for `:localpart`/`:domain`, as Dovecot
//! does and as RFC 5228 2.7.4 allows; a value of comments alone is an empty list.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// Without the quotes a quoted local part was written with.
    pub local_part: String,
    /// As written, with the brackets of a domain literal.
    pub domain: String,
}

impl Address {
    /// `local@domain`, the local part quoted again when it is not a dot-atom, so that
    /// `:all` sees one canonical spelling (Dovecot shows the same).
    pub(crate) fn all(&self) -> String {
        let dot_atom = !self.local_part.is_empty()
            && self
                .local_part
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(is_atext));
        if dot_atom {
            format!("{}@{}", self.local_part, self.domain)
        } else {
            let mut quoted = String::with_capacity(self.local_part.len() + 2);
            quoted.push('"');
            for c in self.local_part.chars() {
                if c == '"' || c == '\\' {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            quoted.push('"');
            format!("{quoted}@{}", self.domain)
        }
    }
}

/// RFC 5322 atext, with RFC 6532's non-ASCII.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Atom(String),
    Quoted(String),
    /// `[...]` with the brackets.
    DomainLiteral(String),
    Special(char),
}

fn tokenize(value: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {}
            '(' => {
                // Comments nest (RFC 5322 3.2.2); an unclosed one runs to the end.
                let mut depth = 1usize;
                while depth > 0 {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                text.push(escaped);
                            }
                        }
                        '\r' | '\n' => {}
                        other => text.push(other),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '[' => {
                let mut text = String::from('[');
                for c in chars.by_ref() {
                    if !c.is_whitespace() {
                        text.push(c);
                    }
                    if c == ']' {
                        break;
                    }
                }
                tokens.push(Token::DomainLiteral(text));
            }
            '<' | '>' | ',' | ':' | ';' | '@' | '.' | ']' | '\\' | ')' => {
                tokens.push(Token::Special(c));
            }
            first => {
                let mut atom = String::from(first);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || "()<>[]:;@\\,.\"".contains(next) {
                        break;
                    }
                    atom.push(next);
                    chars.next();
                }
                tokens.push(Token::Atom(atom));
            }
        }
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_special(&self) -> Option<char> {
        match self.peek() {
            Some(Token::Special(c)) => Some(*c),
            _ => None,
        }
    }

    fn eat(&mut self, special: char) -> bool {
        if self.peek_special() == Some(special) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// The first of `< : @ , ;` from here on, which decides what the entry is.
    fn next_decisive(&self) -> Option<char> {
        self.tokens
            .get(self.at..)?
            .iter()
            .find_map(|token| match token {
                Token::Special(c @ ('<' | ':' | '@' | ',' | ';')) => Some(*c),
                _ => None,
            })
    }

    /// Skips a display name: words and (obsolete) dots.
    fn skip_phrase(&mut self) {
        while matches!(
            self.peek(),
            Some(Token::Atom(_) | Token::Quoted(_) | Token::Special('.'))
        ) {
            self.at += 1;
        }
    }

    /// Skips to the next `,` (or, inside a group, `;`) after a malformed entry.
    fn recover(&mut self, in_group: bool) {
        while let Some(c) = self.peek().map(|token| match token {
            Token::Special(c) => Some(*c),
            _ => None,
        }) {
            if c == Some(',') || (in_group && c == Some(';')) {
                return;
            }
            self.at += 1;
        }
    }

    /// local-part "@" domain, the local part as words joined by dots (obsolete empty words
    /// are accepted, as Dovecot does).
    fn addr_spec(&mut self) -> Option<Address> {
        let mut local_part = String::new();
        let mut after_word = false;
        loop {
            match self.peek()? {
                Token::Atom(text) | Token::Quoted(text) if !after_word => {
                    local_part.push_str(text);
                    after_word = true;
                }
                Token::Special('.') => {
                    local_part.push('.');
                    after_word = false;
                }
                Token::Special('@') => break,
                _ => return None,
            }
            self.at += 1;
        }
        self.at += 1;
        let domain = match self.peek()? {
            Token::DomainLiteral(text) => {
                let text = text.clone();
                self.at += 1;
                text
            }
            Token::Atom(first) => {
                let mut domain = first.clone();
                self.at += 1;
                while self.eat('.') {
                    match self.peek()? {
                        Token::Atom(next) => domain.push_str(&format!(".{next}")),
                        _ => return None,
                    }
                    self.at += 1;
                }
                domain
            }
            _ => return None,
        };
        if local_part.is_empty() {
            return None;
        }
        Some(Address { local_part, domain })
    }

    /// "<" [route ":"] addr-spec ">".
    fn angle_addr(&mut self) -> Option<Address> {
        if !self.eat('<') {
            return None;
        }
        if self.peek_special() == Some('@') {
            // Obsolete source route: "@a,@b:" before the address.
            while !self.eat(':') {
                self.peek()?;
                self.at += 1;
            }
        }
        let address = self.addr_spec()?;
        self.eat('>').then_some(address)
    }

    fn mailbox(&mut self) -> Option<Address> {
        match self.next_decisive() {
            Some('<') => {
                self.skip_phrase();
                self.angle_addr()
            }
            Some('@') => self.addr_spec(),
            _ => None,
        }
    }

    /// One entry of the list; `in_group` stops entries at `;` too.
    fn entry(&mut self, addresses: &mut Vec<Address>, in_group: bool) {
        let parsed = self.mailbox();
        let at_end = match self.peek() {
            None | Some(Token::Special(',')) => true,
            Some(Token::Special(';')) => in_group,
            Some(_) => false,
        };
        match parsed {
            Some(address) => {
                addresses.push(address);
                if !at_end {
                    self.recover(in_group);
                }
            }
            None => self.recover(in_group),
        }
    }

    fn list(&mut self) -> Vec<Address> {
        let mut addresses = Vec::new();
        while self.peek().is_some() {
            if self.eat(',') {
                continue;
            }
            // A ':' after a '<' is a source route, and next_decisive stops at the '<'.
            if self.next_decisive() == Some(':') {
                self.skip_phrase();
                self.eat(':');
                loop {
                    if self.eat(';') || self.peek().is_none() {
                        break;
                    }
                    if self.eat(',') {
                        continue;
                    }
                    self.entry(&mut addresses, true);
                }
            } else {
                let before = self.at;
                self.entry(&mut addresses, false);
                if self.at == before {
                    // A stray ';' or similar: step over it.
                    self.at += 1;
                }
            }
        }
        addresses
    }
}

/// Every mailbox in an unfolded address header value.
pub(crate) fn parse_list(value: &str) -> Vec<Address> {
    Parser {
        tokens: tokenize(value),
        at: 0,
    }
    .list()
}

/// A value holding nothing but comments: an empty list rather than a malformed one, so
/// there is no whole value to fall back on either (Dovecot agrees).
pub(crate) fn only_comments(value: &str) -> bool {
    !value.trim().is_empty() && tokenize(value).is_empty()
}

/// An envelope path (no angle brackets): split at the last "@"; without one the whole is
/// the local part and there is no domain.
pub(crate) fn split_path(path: &str) -> (&str, Option<&str>) {
    match path.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (path, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(value: &str) -> Vec<String> {
        parse_list(value).iter().map(Address::all).collect()
    }

    #[test]
    fn rfc5322_appendix_a_forms() {
        assert_eq!(
            all("John Doe <jdoe@machine.example>"),
            ["jdoe@machine.example"]
        );
        assert_eq!(
            all("\"Joe Q. Public\" <john.q.public@example.com>"),
            ["john.q.public@example.com"]
        );
        assert_eq!(
            all("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            ["mary@x.test", "jdoe@example.org", "one@y.test"]
        );
        assert_eq!(
            all("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
            ["boss@nil.test", "sysservices@example.net"]
        );
        assert_eq!(
            all("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
            ["c@a.test", "joe@where.test", "jdoe@one.test"]
        );
        assert_eq!(all("Undisclosed recipients:;"), Vec::<String>::new());
        assert_eq!(
            all("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            ["pete@silly.test"]
        );
        assert_eq!(
            all("Joe Q. Public <john.q.public@example.com>"),
            ["john.q.public@example.com"]
        );
        assert_eq!(all("<@route.x,@r2.y:a@b.c>"), ["a@b.c"]);
    }

    #[test]
    fn quoted_and_literal_parts() {
        let parsed = parse_list("\"quoted local\"@x.org, a.b@[1.2.3.4], a..b@c.d");
        assert_eq!(parsed[0].local_part, "quoted local");
        assert_eq!(parsed[0].all(), "\"quoted local\"@x.org");
        assert_eq!(parsed[1].all(), "a.b@[1.2.3.4]");
        assert_eq!(parsed[2].all(), "\"a..b\"@c.d");
        assert_eq!(all("\"abc\"@x.y"), ["abc@x.y"]);
    }

    #[test]
    fn malformed_entries_are_skipped() {
        assert_eq!(all("bad address here, <a@b.c>"), ["a@b.c"]);
        assert_eq!(all("a@b.c, bad"), ["a@b.c"]);
        assert_eq!(all("a@b.c,, d@e.f"), ["a@b.c", "d@e.f"]);
        assert_eq!(all("a@b.c d@e.f"), ["a@b.c"]);
        assert_eq!(all("Team: ;, x@y.z"), ["x@y.z"]);
        assert_eq!(all("x@y.z, a@b..c, e@f.g"), ["x@y.z", "e@f.g"]);
        for nothing in ["<>", "John Doe", "a", "", "@", "a@", "<a@b", ";;;", "(open"] {
            assert_eq!(all(nothing), Vec::<String>::new(), "{nothing}");
        }
    }

    #[test]
    fn comments_alone_are_an_empty_list() {
        assert!(only_comments("(comment only)"));
        assert!(only_comments(" (a) (b (nested)) "));
        assert!(!only_comments("   "));
        assert!(!only_comments(","));
        assert!(!only_comments("(c) a@b.c"));
    }

    #[test]
    fn envelope_paths() {
        assert_eq!(split_path("a@b@c"), ("a@b", Some("c")));
        assert_eq!(split_path("postmaster"), ("postmaster", None));
    }
}
