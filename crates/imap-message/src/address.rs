//! RFC 5322 address lists as ENVELOPE shows them: display names raw (encoded words kept,
//! quotes removed, words joined by one space), a comment as the name of a bare addr-spec,
//! group start/end markers, and Dovecot's fill-ins for what is missing (`MISSING_MAILBOX`,
//! `MISSING_DOMAIN`, `SYNTAX_ERROR`, `INVALID_ROUTE`).

/// One entry of an address list, in the order ENVELOPE lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Mailbox(Mailbox),
    /// `name:` starts a group; its members follow, then [`Item::GroupEnd`].
    GroupStart(Vec<u8>),
    GroupEnd,
}

/// A mailbox: `name <@route:local@domain>` or `local@domain (comment)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mailbox {
    pub name: Option<Vec<u8>>,
    pub route: Option<Vec<u8>>,
    pub local: Vec<u8>,
    pub domain: Vec<u8>,
}

/// Parses an address header value (folds allowed). Empty or blank gives no items.
pub(crate) fn parse_list(value: &[u8]) -> Vec<Item> {
    let mut p = Parser {
        data: value,
        pos: 0,
        last_comment: Vec::new(),
    };
    let mut items = Vec::new();
    p.skip_cfws();
    while !p.at_end() {
        let before = p.pos;
        if !p.group(&mut items) {
            p.pos = before;
            items.push(Item::Mailbox(p.mailbox()));
        }
        p.skip_cfws();
        if !p.eat(b',') {
            // garbage after an address ends the list, as in Dovecot
            break;
        }
        // empty list elements (obs-addr-list) are skipped
        loop {
            p.skip_cfws();
            if !p.eat(b',') {
                break;
            }
        }
    }
    items
}

/// The first mailbox of a list (group members included), if any.
pub(crate) fn first_mailbox(items: &[Item]) -> Option<&Mailbox> {
    items.iter().find_map(|i| match i {
        Item::Mailbox(m) => Some(m),
        _ => None,
    })
}

struct Parser<'v> {
    data: &'v [u8],
    pos: usize,
    /// Text of the last comment skipped, the name of a bare `addr-spec (Name)`.
    last_comment: Vec<u8>,
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips blanks, line breaks and comments (nested, with quoted-pairs); remembers the text
    /// of the last comment.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => self.comment(),
                _ => return,
            }
        }
    }

    fn comment(&mut self) {
        let mut text = Vec::new();
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => {
                    if depth > 0 {
                        text.push(b);
                    }
                    depth += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    text.push(b);
                }
                b'\\' => {
                    if let Some(c) = self.peek() {
                        self.pos += 1;
                        text.push(c);
                    }
                }
                b'\r' | b'\n' => {}
                _ => text.push(b),
            }
        }
        self.last_comment = text;
    }

    /// Atom characters (and dots when `dots`), then trailing CFWS.
    fn atom(&mut self, out: &mut Vec<u8>, dots: bool) -> bool {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_atext(b) || (dots && b == b'.') {
                out.push(b);
                self.pos += 1;
            } else {
                break;
            }
        }
        let found = self.pos > start;
        self.skip_cfws();
        found
    }

    /// A quoted string's content (escapes and folds removed), then trailing CFWS.
    fn quoted(&mut self, out: &mut Vec<u8>) {
        self.pos += 1; // the opening quote
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(c) = self.peek() {
                        self.pos += 1;
                        out.push(c);
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        self.skip_cfws();
    }

    /// A phrase: words (atoms with dots, quoted strings) joined by one space. May be empty.
    fn phrase(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut word = Vec::new();
            match self.peek() {
                Some(b'"') => self.quoted(&mut word),
                Some(b) if is_atext(b) || b == b'.' => {
                    self.atom(&mut word, true);
                }
                _ => break,
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(&word);
        }
        out
    }

    /// `atom *("." atom)` with CFWS allowed around the dots.
    fn dot_atom(&mut self, out: &mut Vec<u8>) {
        loop {
            if !self.atom(out, false) {
                return;
            }
            if !self.eat(b'.') {
                return;
            }
            out.push(b'.');
            self.skip_cfws();
        }
    }

    fn local_part(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.peek() == Some(b'"') {
            self.quoted(&mut out);
        } else {
            self.dot_atom(&mut out);
        }
        out
    }

    /// After `@`: a dot-atom or a `[domain literal]`.
    fn domain(&mut self) -> Vec<u8> {
        self.skip_cfws();
        let mut out = Vec::new();
        if self.eat(b'[') {
            out.push(b'[');
            while let Some(b) = self.peek() {
                self.pos += 1;
                match b {
                    b']' => break,
                    b'\\' => {
                        if let Some(c) = self.peek() {
                            self.pos += 1;
                            out.push(c);
                        }
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    _ => out.push(b),
                }
            }
            out.push(b']');
            self.skip_cfws();
        } else {
            self.dot_atom(&mut out);
        }
        out
    }

    /// `group = phrase ":" [mailbox-list] ";"`. False (nothing consumed that matters) when
    /// this is not a group.
    fn group(&mut self, items: &mut Vec<Item>) -> bool {
        let name = self.phrase();
        if !self.eat(b':') {
            return false;
        }
        items.push(Item::GroupStart(name));
        self.skip_cfws();
        while !self.at_end() && self.peek() != Some(b';') {
            let before = self.pos;
            items.push(Item::Mailbox(self.mailbox()));
            self.skip_cfws();
            if !self.eat(b',') {
                if self.pos == before {
                    // junk that is no mailbox: skip to the group's end
                    while !self.at_end() && self.peek() != Some(b';') {
                        self.pos += 1;
                    }
                }
                break;
            }
            loop {
                self.skip_cfws();
                if !self.eat(b',') {
                    break;
                }
            }
        }
        self.eat(b';');
        self.skip_cfws();
        items.push(Item::GroupEnd);
        true
    }

    /// `mailbox = name-addr / addr-spec`, with the missing pieces filled in.
    fn mailbox(&mut self) -> Mailbox {
        let start = self.pos;
        let phrase = self.phrase();
        let mut mailbox = if self.peek() == Some(b'<') {
            let mut m = Mailbox {
                name: (!phrase.is_empty()).then_some(phrase),
                route: None,
                local: Vec::new(),
                domain: Vec::new(),
            };
            if self.angle_addr(&mut m).is_none() {
                m.domain = b"SYNTAX_ERROR".to_vec();
            }
            m
        } else {
            self.pos = start;
            self.last_comment.clear();
            let local = self.local_part();
            let domain = if self.eat(b'@') {
                self.domain()
            } else {
                Vec::new()
            };
            Mailbox {
                name: (!self.last_comment.is_empty())
                    .then(|| std::mem::take(&mut self.last_comment)),
                route: None,
                local,
                domain,
            }
        };
        if mailbox.local.is_empty() {
            mailbox.local = b"MISSING_MAILBOX".to_vec();
        }
        if mailbox.domain.is_empty() {
            mailbox.domain = b"MISSING_DOMAIN".to_vec();
        }
        mailbox
    }

    /// `"<" [route ":"] local-part ["@" domain] ">"`; `None` when it is malformed.
    fn angle_addr(&mut self, m: &mut Mailbox) -> Option<()> {
        self.pos += 1; // '<'
        self.skip_cfws();
        if self.peek() == Some(b'@') {
            let mut route = Vec::new();
            while self.eat(b'@') {
                if !route.is_empty() {
                    route.push(b',');
                }
                route.push(b'@');
                route.extend_from_slice(&self.domain());
                while self.eat(b',') {
                    self.skip_cfws();
                }
            }
            if !self.eat(b':') {
                m.route = Some(b"INVALID_ROUTE".to_vec());
                return None;
            }
            m.route = Some(route);
            self.skip_cfws();
        }
        m.local = self.local_part();
        if self.eat(b'@') {
            m.domain = self.domain();
        }
        if !self.eat(b'>') {
            return None;
        }
        self.skip_cfws();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, local: &str, domain: &str) -> Item {
        Item::Mailbox(Mailbox {
            name: name.map(|n| n.as_bytes().to_vec()),
            route: None,
            local: local.as_bytes().to_vec(),
            domain: domain.as_bytes().to_vec(),
        })
    }

    #[test]
    fn mailboxes_names_and_comments() {
        assert_eq!(
            parse_list(b" \"Doe, John\" <john@example.com>, jane@example.org (Jane  Roe)"),
            vec![
                mb(Some("Doe, John"), "john", "example.com"),
                mb(Some("Jane  Roe"), "jane", "example.org")
            ]
        );
        assert_eq!(
            parse_list(b" =?utf-8?q?J=C3=B6rg?=   Smith\r\n <j@x.org>"),
            vec![mb(Some("=?utf-8?q?J=C3=B6rg?= Smith"), "j", "x.org")]
        );
        assert_eq!(parse_list(b" <a@b>"), vec![mb(None, "a", "b")]);
        assert_eq!(parse_list(b" "), vec![]);
    }

    #[test]
    fn groups_and_missing_parts() {
        assert_eq!(
            parse_list(b" group: g1@d1.org, g2@d2.org;, group2: (foo) ;, undisclosed-recipients:;"),
            vec![
                Item::GroupStart(b"group".to_vec()),
                mb(None, "g1", "d1.org"),
                mb(None, "g2", "d2.org"),
                Item::GroupEnd,
                Item::GroupStart(b"group2".to_vec()),
                Item::GroupEnd,
                Item::GroupStart(b"undisclosed-recipients".to_vec()),
                Item::GroupEnd,
            ]
        );
        assert_eq!(
            parse_list(b" john"),
            vec![mb(None, "john", "MISSING_DOMAIN")]
        );
        assert_eq!(
            parse_list(b" Name <broken@x"),
            vec![mb(Some("Name"), "broken", "SYNTAX_ERROR")]
        );
    }

    #[test]
    fn routes_and_literals() {
        let items = parse_list(b" <@route1,@route2:user@[192.0.2.1]>");
        assert_eq!(
            items,
            vec![Item::Mailbox(Mailbox {
                name: None,
                route: Some(b"@route1,@route2".to_vec()),
                local: b"user".to_vec(),
                domain: b"[192.0.2.1]".to_vec(),
            })]
        );
    }

    #[test]
    fn hostile_input_terminates() {
        let deep = "(".repeat(100_000);
        assert!(parse_list(deep.as_bytes()).is_empty());
        let _ = parse_list(b"a:b:c;;;,,,<<<>>>@@@\"unterminated");
        let _ = parse_list(b"g: ;junk ; more: x@y");
    }
}
