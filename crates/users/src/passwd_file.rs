//! Dovecot's passwd-file format: `user:password:uid:gid:gecos:home:shell:extra_fields`.
//!
//! Trailing fields may be missing; `#` starts a comment line; extra fields are
//! space-separated `key=value` (or bare `key`) and may contain `:`, since everything after
//! the shell field is joined back, as Dovecot does. Lines are kept as read unless edited,
//! so comments, blank lines and untouched entries survive a rewrite byte for byte.

use std::collections::HashMap;
use std::fmt;

use crate::{PasswordHash, SchemeError};

/// A uid or gid field: a number, or a name the system resolves (Dovecot accepts both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Numeric id (never 0: Dovecot refuses root).
    Id(u32),
    /// User or group name.
    Name(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// One extra field: `key=value`, or a bare `key` (a flag such as `nologin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraField {
    /// The key, e.g. `userdb_quota_rule`.
    pub key: String,
    /// The value, `None` for a bare key.
    pub value: Option<String>,
}

/// One user line. `Debug` hides the password field.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The lookup key: `user@domain` or a local part, depending on `username_format`.
    pub username: String,
    password: String,
    /// uid for delivery, if set.
    pub uid: Option<Owner>,
    /// gid for delivery, if set.
    pub gid: Option<Owner>,
    /// Free text, ignored by Dovecot.
    pub gecos: String,
    /// Home directory; empty means "use the home template".
    pub home: String,
    /// Ignored by Dovecot.
    pub shell: String,
    /// passdb and `userdb_` fields.
    pub extra_fields: Vec<ExtraField>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("gecos", &self.gecos)
            .field("home", &self.home)
            .field("shell", &self.shell)
            .field("extra_fields", &self.extra_fields)
            .finish()
    }
}

impl Entry {
    /// An entry with only a username and password.
    pub fn new(username: impl Into<String>, password: &PasswordHash) -> Self {
        Self {
            username: username.into(),
            password: password.to_field(),
            uid: None,
            gid: None,
            gecos: String::new(),
            home: String::new(),
            shell: String::new(),
            extra_fields: Vec::new(),
        }
    }

    /// The raw password field (empty if none).
    pub fn password_field(&self) -> &str {
        &self.password
    }

    /// The parsed password; `Ok(None)` if the field is empty (no login possible).
    pub fn password(&self) -> Result<Option<PasswordHash>, SchemeError> {
        if self.password.is_empty() {
            return Ok(None);
        }
        PasswordHash::parse(&self.password).map(Some)
    }

    /// Replaces the password.
    pub fn set_password(&mut self, password: &PasswordHash) {
        self.password = password.to_field();
    }

    /// The value of extra field `key`: `Some("")` for a bare key, `None` if absent.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra_fields
            .iter()
            .find(|field| field.key == key)
            .map(|field| field.value.as_deref().unwrap_or_default())
    }

    /// The `userdb_` extra fields with the prefix removed (`quota_rule`, `mail`...).
    pub fn userdb_fields(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.extra_fields.iter().filter_map(|field| {
            let key = field.key.strip_prefix("userdb_")?;
            Some((key, field.value.as_deref()))
        })
    }

    /// Why this entry cannot be written as one passwd-file line, if it cannot.
    pub fn check(&self) -> Result<(), &'static str> {
        check_username(&self.username)?;
        for (text, what) in [
            (
                &self.password,
                "password contains ':' or a control character",
            ),
            (&self.gecos, "gecos contains ':' or a control character"),
            (&self.home, "home contains ':' or a control character"),
            (&self.shell, "shell contains ':' or a control character"),
        ] {
            if text.chars().any(|c| c == ':' || c.is_control()) {
                return Err(what);
            }
        }
        for owner in [&self.uid, &self.gid].into_iter().flatten() {
            check_owner(owner)?;
        }
        for field in &self.extra_fields {
            let bad = |text: &str| text.chars().any(|c| c.is_whitespace() || c.is_control());
            if field.key.is_empty() || field.key.contains('=') || bad(&field.key) {
                return Err("extra field key is empty or contains '=' or whitespace");
            }
            if field.value.as_deref().is_some_and(bad) {
                return Err("extra field value contains whitespace");
            }
        }
        Ok(())
    }

    /// The passwd-file line (without LF), trailing empty fields left out.
    pub fn to_line(&self) -> String {
        let owner =
            |owner: &Option<Owner>| owner.as_ref().map(Owner::to_string).unwrap_or_default();
        let extra: Vec<String> = self
            .extra_fields
            .iter()
            .map(|field| match &field.value {
                Some(value) => format!("{}={value}", field.key),
                None => field.key.clone(),
            })
            .collect();
        let mut fields = vec![
            self.username.clone(),
            self.password.clone(),
            owner(&self.uid),
            owner(&self.gid),
            self.gecos.clone(),
            self.home.clone(),
            self.shell.clone(),
            extra.join(" "),
        ];
        while fields.len() > 2 && fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        fields.join(":")
    }
}

fn check_username(username: &str) -> Result<(), &'static str> {
    if username.is_empty() {
        return Err("empty username");
    }
    if username
        .chars()
        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err("username contains ':', whitespace or a control character");
    }
    Ok(())
}

fn check_owner(owner: &Owner) -> Result<(), &'static str> {
    match owner {
        Owner::Id(0) => Err("uid/gid 0 (root) is not allowed"),
        Owner::Id(_) => Ok(()),
        Owner::Name(name)
            if !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
        {
            Ok(())
        }
        Owner::Name(_) => Err("uid/gid is neither a number nor a valid name"),
    }
}

fn parse_owner(field: &str) -> Result<Option<Owner>, &'static str> {
    if field.is_empty() {
        return Ok(None);
    }
    let owner = if field.bytes().all(|b| b.is_ascii_digit()) {
        Owner::Id(field.parse().map_err(|_| "uid/gid out of range")?)
    } else {
        Owner::Name(field.to_owned())
    };
    check_owner(&owner)?;
    Ok(Some(owner))
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    InvalidUtf8,
    /// A field has a value Dovecot would reject or misread.
    #[error("{0}")]
    Invalid(&'static str),
    /// The username appeared on an earlier line (Dovecot would use the first one).
    #[error("user {user:?} already defined on line {first_line}")]
    DuplicateUser {
        /// The username.
        user: String,
        /// Where it was first defined.
        first_line: usize,
    },
}

/// A problem on one line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// Every problem in a file, found in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseErrors(pub Vec<ParseError>);

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseErrors {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Comment, blank line: written back as is.
    Other(String),
    /// A user; `raw` is the line as read, dropped once the entry is edited.
    User { entry: Entry, raw: Option<String> },
}

/// A whole passwd-file: its users, and every other line in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PasswdFile {
    lines: Vec<Line>,
    /// Username to index in `lines`.
    index: HashMap<String, usize>,
}

impl PasswdFile {
    /// Parses a file, reporting every bad line.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseErrors> {
        let mut file = Self::default();
        let mut errors = Vec::new();
        let mut first_lines = HashMap::new();
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if bytes.is_empty() {
            return Ok(file);
        }
        for (number, line) in text.split(|&b| b == b'\n').enumerate() {
            let number = number + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Ok(line) = std::str::from_utf8(line) else {
                errors.push(ParseError {
                    line: number,
                    kind: ParseErrorKind::InvalidUtf8,
                });
                continue;
            };
            if line.trim().is_empty() || line.starts_with('#') {
                file.lines.push(Line::Other(line.to_owned()));
                continue;
            }
            match parse_entry(line) {
                Ok(entry) => {
                    if let Some(&first_line) = first_lines.get(&entry.username) {
                        errors.push(ParseError {
                            line: number,
                            kind: ParseErrorKind::DuplicateUser {
                                user: entry.username,
                                first_line,
                            },
                        });
                        continue;
                    }
                    first_lines.insert(entry.username.clone(), number);
                    file.index.insert(entry.username.clone(), file.lines.len());
                    file.lines.push(Line::User {
                        entry,
                        raw: Some(line.to_owned()),
                    });
                }
                Err(reason) => errors.push(ParseError {
                    line: number,
                    kind: ParseErrorKind::Invalid(reason),
                }),
            }
        }
        if errors.is_empty() {
            Ok(file)
        } else {
            Err(ParseErrors(errors))
        }
    }

    /// The entry for `username` (the exact key in the file).
    pub fn get(&self, username: &str) -> Option<&Entry> {
        match self.lines.get(*self.index.get(username)?) {
            Some(Line::User { entry, .. }) => Some(entry),
            _ => None,
        }
    }

    /// All entries, in file order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.lines.iter().filter_map(|line| match line {
            Line::User { entry, .. } => Some(entry),
            Line::Other(_) => None,
        })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Appends a new user.
    pub fn insert(&mut self, entry: Entry) -> Result<(), EntryError> {
        entry.check().map_err(EntryError::Invalid)?;
        if self.index.contains_key(&entry.username) {
            return Err(EntryError::Exists(entry.username));
        }
        self.index.insert(entry.username.clone(), self.lines.len());
        self.lines.push(Line::User { entry, raw: None });
        Ok(())
    }

    /// Replaces the entry with the same username, in place; returns the old one.
    pub fn replace(&mut self, entry: Entry) -> Result<Entry, EntryError> {
        entry.check().map_err(EntryError::Invalid)?;
        let Some(&at) = self.index.get(&entry.username) else {
            return Err(EntryError::NotFound(entry.username));
        };
        match self.lines.get_mut(at) {
            Some(line) => match std::mem::replace(line, Line::User { entry, raw: None }) {
                Line::User { entry, .. } => Ok(entry),
                Line::Other(_) => Err(EntryError::Invalid("index out of sync")),
            },
            None => Err(EntryError::Invalid("index out of sync")),
        }
    }

    /// Removes a user; returns the entry.
    pub fn remove(&mut self, username: &str) -> Option<Entry> {
        let at = self.index.remove(username)?;
        if at >= self.lines.len() {
            return None;
        }
        let removed = self.lines.remove(at);
        for index in self.index.values_mut() {
            if *index > at {
                *index -= 1;
            }
        }
        match removed {
            Line::User { entry, .. } => Some(entry),
            Line::Other(_) => None,
        }
    }

    /// The file contents: untouched lines as read, edited and new entries re-serialized.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(text)
                | Line::User {
                    raw: Some(text), ..
                } => out.push_str(text),
                Line::User { entry, raw: None } => out.push_str(&entry.to_line()),
            }
            out.push('\n');
        }
        out.into_bytes()
    }
}

/// An in-memory edit that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// `insert` of a username already present.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// An edit of a username not present.
    #[error("no user {0:?}")]
    NotFound(String),
    /// The entry cannot be written as a passwd-file line.
    #[error("invalid entry: {0}")]
    Invalid(&'static str),
}

fn parse_entry(line: &str) -> Result<Entry, &'static str> {
    let mut fields = line.split(':');
    let username = fields.next().unwrap_or_default();
    check_username(username)?;
    let password = fields.next().unwrap_or_default();
    if password.chars().any(char::is_control) {
        return Err("password field contains a control character");
    }
    let uid = parse_owner(fields.next().unwrap_or_default())?;
    let gid = parse_owner(fields.next().unwrap_or_default())?;
    let gecos = fields.next().unwrap_or_default();
    let home = fields.next().unwrap_or_default();
    let shell = fields.next().unwrap_or_default();
    let rest: Vec<&str> = fields.collect();
    let extra = match rest.split_first() {
        // Old format: an empty field after the shell, then the mail location.
        Some((&"", mail)) if !mail.is_empty() => format!("userdb_mail={}", mail.join(":")),
        _ => rest.join(":"),
    };
    let mut extra_fields = Vec::new();
    for token in extra.split(' ').filter(|token| !token.is_empty()) {
        let field = match token.split_once('=') {
            Some((key, value)) => ExtraField {
                key: key.to_owned(),
                value: Some(value.to_owned()),
            },
            None => ExtraField {
                key: token.to_owned(),
                value: None,
            },
        };
        if field.key.is_empty() {
            return Err("extra field without a key");
        }
        extra_fields.push(field);
    }
    Ok(Entry {
        username: username.to_owned(),
        password: password.to_owned(),
        uid,
        gid,
        gecos: gecos.to_owned(),
        home: home.to_owned(),
        shell: shell.to_owned(),
        extra_fields,
    })
}
