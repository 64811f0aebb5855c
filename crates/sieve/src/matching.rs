//! Match types `:is`, `:contains`, `:matches` under the comparators `i;octet` and
//! `i;ascii-casemap` (RFC 5228 2.7, RFC 4790 9.2–9.3).
//!
//! Both comparators work on octets, as RFC 4790 defines them (and as Dovecot does), so `?`
//! matches one octet. `:matches` never backtracks: a pattern is split at its `*`s, the first
//! piece is anchored at the start, the last at the end, and each piece between takes its
//! leftmost place; leftmost is always safe because whatever follows can only gain room.
//! Every step is charged to a [`Work`] budget so a hostile script and message cannot burn
//! CPU without bound.

use crate::error::RuntimeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparator {
    Octet,
    AsciiCasemap,
}

impl Comparator {
    /// Comparator names are case-insensitive (RFC 4790 3.1).
    pub(crate) fn by_name(name: &str) -> Option<Comparator> {
        match name.to_ascii_lowercase().as_str() {
            "i;octet" => Some(Comparator::Octet),
            "i;ascii-casemap" => Some(Comparator::AsciiCasemap),
            _ => None,
        }
    }

    fn prepare(self, value: &[u8]) -> Vec<u8> {
        match self {
            Comparator::Octet => value.to_vec(),
            Comparator::AsciiCasemap => value.to_ascii_lowercase(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchType {
    Is,
    Contains,
    Matches,
}

/// One octet of a pattern piece: `None` is `?`.
type Piece = Vec<Option<u8>>;

#[derive(Debug, Clone)]
enum Key {
    Is(Vec<u8>),
    Contains(Piece),
    /// The pieces between `*`s; with no `*` at all there is exactly one piece and it must
    /// cover the whole value.
    Matches {
        pieces: Vec<Piece>,
        starred: bool,
    },
}

/// The steps a script may spend on matching for one message.
#[derive(Debug)]
pub(crate) struct Work {
    used: u64,
    limit: u64,
}

impl Work {
    pub(crate) fn new(limit: u64) -> Self {
        Work { used: 0, limit }
    }

    pub(crate) fn charge(&mut self, steps: usize) -> Result<(), RuntimeError> {
        self.used = self
            .used
            .saturating_add(u64::try_from(steps).unwrap_or(u64::MAX));
        if self.used > self.limit {
            return Err(RuntimeError::WorkLimit { limit: self.limit });
        }
        Ok(())
    }
}

/// A match type, a comparator and the keys prepared for both.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    comparator: Comparator,
    keys: Vec<Key>,
}

fn glob_pieces(pattern: &[u8]) -> (Vec<Piece>, bool) {
    let mut pieces = vec![Vec::new()];
    let mut starred = false;
    let mut bytes = pattern.iter();
    while let Some(&b) = bytes.next() {
        let current = match b {
            b'*' => {
                starred = true;
                pieces.push(Vec::new());
                continue;
            }
            // A backslash makes the next character literal; a lone trailing one is itself.
            b'\\' => Some(bytes.next().copied().unwrap_or(b'\\')),
            b'?' => None,
            other => Some(other),
        };
        if let Some(piece) = pieces.last_mut() {
            piece.push(current);
        }
    }
    (pieces, starred)
}

fn piece_matches_at(value: &[u8], at: usize, piece: &[Option<u8>]) -> bool {
    match value.get(at..).and_then(|rest| rest.get(..piece.len())) {
        Some(window) => window
            .iter()
            .zip(piece)
            .all(|(v, p)| p.is_none_or(|p| p == *v)),
        None => false,
    }
}

/// Leftmost start of `piece` within `value[from..until]`.
fn find_piece(
    value: &[u8],
    from: usize,
    until: usize,
    piece: &[Option<u8>],
    work: &mut Work,
) -> Result<Option<usize>, RuntimeError> {
    if piece.is_empty() {
        return Ok((from <= until).then_some(from));
    }
    let Some(last_start) = until.checked_sub(piece.len()) else {
        return Ok(None);
    };
    let mut start = from;
    while start <= last_start {
        work.charge(piece.len())?;
        if piece_matches_at(value, start, piece) {
            return Ok(Some(start));
        }
        start += 1;
    }
    Ok(None)
}

fn glob_match(
    value: &[u8],
    pieces: &[Piece],
    starred: bool,
    work: &mut Work,
) -> Result<bool, RuntimeError> {
    work.charge(value.len())?;
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return Ok(value.is_empty());
    };
    if !starred {
        return Ok(first.len() == value.len() && piece_matches_at(value, 0, first));
    }
    // With at least one `*` the first and last pieces are distinct entries.
    if first.len() + last.len() > value.len()
        || !piece_matches_at(value, 0, first)
        || !piece_matches_at(value, value.len() - last.len(), last)
    {
        return Ok(false);
    }
    let until = value.len() - last.len();
    let mut position = first.len();
    let middle = pieces.get(1..pieces.len() - 1).unwrap_or(&[]);
    for piece in middle {
        match find_piece(value, position, until, piece, work)? {
            Some(start) => position = start + piece.len(),
            None => return Ok(false),
        }
    }
    Ok(true)
}

impl Matcher {
    pub(crate) fn new(match_type: MatchType, comparator: Comparator, keys: &[String]) -> Self {
        let keys = keys
            .iter()
            .map(|key| {
                let key = comparator.prepare(key.as_bytes());
                match match_type {
                    MatchType::Is => Key::Is(key),
                    MatchType::Contains => Key::Contains(key.into_iter().map(Some).collect()),
                    MatchType::Matches => {
                        let (pieces, starred) = glob_pieces(&key);
                        Key::Matches { pieces, starred }
                    }
                }
            })
            .collect();
        Matcher { comparator, keys }
    }

    /// Whether `value` matches any key.
    pub(crate) fn matches(&self, value: &[u8], work: &mut Work) -> Result<bool, RuntimeError> {
        work.charge(value.len())?;
        let value = self.comparator.prepare(value);
        for key in &self.keys {
            let matched = match key {
                Key::Is(key) => {
                    work.charge(key.len())?;
                    *key == value
                }
                Key::Contains(piece) => find_piece(&value, 0, value.len(), piece, work)?.is_some(),
                Key::Matches { pieces, starred } => glob_match(&value, pieces, *starred, work)?,
            };
            if matched {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(match_type: MatchType, comparator: Comparator, key: &str, value: &str) -> bool {
        let matcher = Matcher::new(match_type, comparator, &[key.to_string()]);
        matcher
            .matches(value.as_bytes(), &mut Work::new(u64::MAX))
            .unwrap()
    }

    fn glob(key: &str, value: &str) -> bool {
        check(MatchType::Matches, Comparator::AsciiCasemap, key, value)
    }

    #[test]
    fn rfc5228_matches_examples() {
        // RFC 5228 2.7.1: "*" any sequence, "?" one character, "\\" escapes.
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("?", "x"));
        assert!(!glob("?", ""));
        assert!(!glob("?", "xy"));
        assert!(glob("a*b?c", "aXXbYc"));
        assert!(glob("*@example.com", "USER@Example.COM"));
        assert!(!glob("*@example.com", "user@example.com.evil"));
        assert!(glob(r"\*\?\\", r"*?\"));
        assert!(!glob(r"\*", "x"));
        assert!(glob("*a*a*a*", "banana bread and"));
        assert!(!glob("*a*a*a*a*a*", "banana"));
        assert!(glob("**?*", "x"));
        assert!(glob("ab*ba", "aba*ba"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn question_mark_is_one_octet() {
        // "ö" is two octets in UTF-8; Dovecot agrees.
        assert!(glob("W??rld", "Wörld"));
        assert!(!glob("W?rld", "Wörld"));
    }

    #[test]
    fn comparators() {
        assert!(check(MatchType::Is, Comparator::AsciiCasemap, "FOO", "foo"));
        assert!(!check(MatchType::Is, Comparator::Octet, "FOO", "foo"));
        assert!(check(MatchType::Contains, Comparator::Octet, "", "foo"));
        assert!(check(
            MatchType::Contains,
            Comparator::AsciiCasemap,
            "O",
            "foo"
        ));
        // Only ASCII letters fold.
        assert!(!check(MatchType::Is, Comparator::AsciiCasemap, "Ö", "ö"));
        assert!(check(MatchType::Matches, Comparator::Octet, "f*", "foo"));
        assert!(!check(MatchType::Matches, Comparator::Octet, "F*", "foo"));
    }

    #[test]
    fn hostile_pattern_stays_within_budget() {
        let value = "a".repeat(10_000);
        let key = format!("{}b", "*a".repeat(500));
        let matcher = Matcher::new(MatchType::Matches, Comparator::Octet, &[key]);
        let mut work = Work::new(u64::MAX);
        assert!(!matcher.matches(value.as_bytes(), &mut work).unwrap());
        // Linear: every octet is looked at a bounded number of times per piece.
        assert!(work.used < 100_000, "{}", work.used);
        let mut small = Work::new(1000);
        assert!(matcher.matches(value.as_bytes(), &mut small).is_err());
    }
}
